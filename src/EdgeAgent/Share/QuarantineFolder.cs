namespace EdgeMed.EdgeAgent.Share;

/// <summary>
/// Moves refused files out of the share into a dated quarantine folder, keeping their path below the share. When the
/// share is read-only (or <see cref="MoveFiles"/> is off, as for one-shot classification of a technician's files) the
/// file stays where it is and only the ledger marks it.
/// </summary>
public sealed class QuarantineFolder(string folder, string? share, bool moveFiles)
{
    /// <summary>The quarantine folder.</summary>
    public string Folder { get; } = Path.GetFullPath(folder);

    /// <summary>Whether files are moved (else only marked in the ledger).</summary>
    public bool MoveFiles { get; } = moveFiles;

    /// <summary>Where <paramref name="path"/> goes: <c>FOLDER/yyyy-MM-dd/relative/path</c>, made unique; null when files are not moved.</summary>
    public string? Destination(string path)
    {
        if (!MoveFiles)
        {
            return null;
        }

        var relative = share is not null && path.StartsWith(Path.GetFullPath(share).TrimEnd('/') + "/", StringComparison.Ordinal)
            ? Path.GetRelativePath(share, path)
            : Path.GetFileName(path);
        var target = Path.Combine(Folder, DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), relative);
        for (var n = 1; File.Exists(target); n++)
        {
            target = Path.Combine(Path.GetDirectoryName(target)!, $"{Path.GetFileNameWithoutExtension(relative)}.{n}{Path.GetExtension(relative)}");
        }

        return target;
    }

    /// <summary>
    /// Moves the file durably; false (file left in place) when the share does not allow it. On one file system a
    /// rename; across file systems (the share a network mount, the quarantine local) a copy under a temporary name,
    /// fsynced, renamed into place and its folder fsynced, and only then the original deleted: a crash at any point
    /// leaves at least one complete copy, and <c>agent quarantine retry</c> accepts the file when both remain.
    /// </summary>
    public static bool TryMove(string path, string destination)
    {
        var folder = Path.GetDirectoryName(destination)!;
        var partial = Path.Combine(folder, "." + Path.GetFileName(destination) + ".partial");
        try
        {
            // Owner-only: refused files are patient data, and their folder names may be patients' names.
            OwnerOnly.CreateDirectory(folder);
            if (ShareEntry.DeviceOf(path) is { } from && from == ShareEntry.DeviceOf(folder))
            {
                File.Move(path, destination);
                ShareEntry.SyncDirectory(folder);
                return true;
            }

            CopyDurably(path, partial);
            File.Move(partial, destination);
            ShareEntry.SyncDirectory(folder);
            File.Delete(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (!File.Exists(path) && File.Exists(destination))
            {
                return true; // moved; only the folder's fsync failed
            }

            // The share refused the delete (read-only): drop the copy, the file stays where it is.
            foreach (var copy in new[] { partial, destination })
            {
                if (File.Exists(path) && File.Exists(copy))
                {
                    File.Delete(copy);
                }
            }

            return false;
        }
    }

    private static void CopyDurably(string source, string target)
    {
        using (var from = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16))
        using (var to = new FileStream(target, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
        {
            from.CopyTo(to, 1 << 16);
            to.Flush(flushToDisk: true);
        }

        // `agent quarantine retry` puts it back with its time, so the agent takes it for the same file version.
        File.SetLastWriteTimeUtc(target, File.GetLastWriteTimeUtc(source));
    }
}
