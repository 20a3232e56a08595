using System.IO.Enumeration;
using System.Runtime.InteropServices;

namespace EdgeMed.EdgeAgent.Share;

/// <summary>
/// One recursive listing of the share. A folder that cannot be opened or read (permission denied, an I/O error on a
/// failing disk or a stale network mount) is skipped and counted by error, so one bad folder never stops the scan of
/// the rest; the share's own folder failing (opened or read) fails the listing: a partial list of the share itself
/// must not pass for the share.
/// </summary>
internal sealed class ShareListing : FileSystemEnumerator<FileCandidate>
{
    private static readonly EnumerationOptions Options = new()
    {
        RecurseSubdirectories = true,
        IgnoreInaccessible = false, // access errors reach ContinueOnError too, to be counted
        AttributesToSkip = 0,
        ReturnSpecialDirectories = false,
    };

    // Set when the share's own folder has been read to its end: the enumerator finishes it before opening any
    // subfolder, so an error before that is the share's own.
    private bool _rootDone;
    private readonly Dictionary<int, int> _skipped = [];

    /// <summary>Opens the share's folder; throws when that fails.</summary>
    public ShareListing(string share)
        : base(share, Options)
    {
    }

    /// <summary>Folders skipped so far, as error text (no path) → count, e.g. "Permission denied" → 1.</summary>
    public IReadOnlyDictionary<string, int> SkippedFolders =>
        _skipped.ToDictionary(e => Marshal.GetPInvokeErrorMessage(e.Key), e => e.Value, StringComparer.Ordinal);

    /// <inheritdoc/>
    protected override bool ContinueOnError(int error)
    {
        if (!_rootDone)
        {
            return false;
        }

        _skipped[error] = _skipped.GetValueOrDefault(error) + 1;
        return true;
    }

    /// <inheritdoc/>
    protected override void OnDirectoryFinished(ReadOnlySpan<char> directory) => _rootDone = true;

    /// <inheritdoc/>
    protected override bool ShouldIncludeEntry(ref FileSystemEntry entry) => !entry.IsDirectory && !ShareScanner.IsSkippedName(entry.FileName);

    /// <summary>
    /// Linked folders are not entered: a link can lead out of the share or back up into it (a loop). Linked files are
    /// listed and then refused by the reader, which records them once.
    /// </summary>
    protected override bool ShouldRecurseIntoEntry(ref FileSystemEntry entry) =>
        (entry.Attributes & FileAttributes.ReparsePoint) == 0 && !ShareScanner.IsSkippedName(entry.FileName);

    /// <inheritdoc/>
    protected override FileCandidate TransformEntry(ref FileSystemEntry entry) =>
        new(entry.ToFullPath(), entry.Length, entry.LastWriteTimeUtc.ToUnixTimeMilliseconds());
}
