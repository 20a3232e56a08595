using System.Globalization;
using System.Threading.Channels;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Operations;
using Microsoft.Extensions.Logging;

namespace EdgeMed.EdgeAgent.Share;

/// <summary>One version of a file on the share that has held still: the unit of intake.</summary>
/// <param name="Path">Full path.</param>
/// <param name="Size">Size in bytes.</param>
/// <param name="ModifiedMs">Modification time, Unix milliseconds.</param>
public sealed record FileCandidate(string Path, long Size, long ModifiedMs);

/// <summary>
/// Finds settled files on the share by periodic recursive scans. <see cref="FileSystemWatcher"/> does not fire on
/// CIFS mounts under Linux, so its events only bring the next scan forward. A file is offered once its size and
/// modification time have held still for the settle time; names starting with '.' or ending like temporary files are
/// skipped; a share that vanishes is reported once and picked up again when it returns.
/// </summary>
public sealed class ShareScanner : IDisposable
{
    private static readonly string[] TemporarySuffixes = [".tmp", ".part", ".partial", ".crdownload", ".swp", "~", ".filepart"];

    private readonly string _share;
    private readonly AgentDatabase _database;
    private readonly DiskWatermark _watermark;
    private readonly AgentHealth _health;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _settle;
    private readonly TimeSpan _rereadPause;
    private readonly bool _mountPoint;
    private readonly string? _marker;
    private readonly ILogger _logger;
    private readonly Channel<bool> _hint = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Dictionary<string, (long Size, long ModifiedMs, long Since)> _settling = new(StringComparer.Ordinal);
    private readonly HashSet<FileCandidate> _handled = [];
    private readonly Lock _handledLock = new();
    private FileSystemWatcher? _watcher;
    private bool _watcherFailed;
    private string? _retryGeneration;
    private string _skippedSummary = string.Empty;

    /// <summary>Creates the scanner; <see cref="RunAsync"/> starts it.</summary>
    public ShareScanner(AgentOptions options, AgentDatabase database, DiskWatermark watermark, AgentHealth health, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _share = Path.GetFullPath(options.Share);
        _database = database;
        _watermark = watermark;
        _health = health;
        _interval = options.ScanInterval;
        _settle = options.SettleTime;
        _rereadPause = options.RereadPause;
        _mountPoint = options.ShareIsMountPoint;
        _marker = options.ShareMarker.Length == 0 ? null : Path.Combine(_share, options.ShareMarker);
        _logger = logger;
    }

    /// <summary>Scans until cancelled, writing settled, not yet finished files to <paramref name="output"/> (waits when it is full).</summary>
    public async Task RunAsync(ChannelWriter<FileCandidate> output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        string? unavailable = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            _health.DiskLow = _watermark.Check();

            if (!_watermark.IsPaused)
            {
                var why = await ScanOnceAsync(output, cancellationToken).ConfigureAwait(false);
                if (why != unavailable)
                {
                    unavailable = why;
                    _health.ShareAvailable = why is null;
                    if (why is null)
                    {
                        Log.ShareAvailable(_logger);
                    }
                    else
                    {
                        Log.ShareUnavailable(_logger, why);
                    }
                }
            }

            // A file that is settling is looked at again after the settle time, not a whole interval later.
            var wait = _settling.Count > 0 && _settle < _interval ? _settle : _interval;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(wait);
            try
            {
                await _hint.Reader.ReadAsync(timeout.Token).ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false); // let a burst of events pass
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
        }
    }

    /// <summary>
    /// Whether the last scan found every file on the share finished in the ledger (set only when
    /// <see cref="TrackFinished"/> is on: it costs a ledger lookup per file per scan).
    /// </summary>
    public bool ShareFinished { get; private set; }

    /// <summary>Makes scans compute <see cref="ShareFinished"/> (for <c>agent run --stop-when-idle</c>).</summary>
    public bool TrackFinished { get; set; }

    /// <summary>Offers a file version again at the next scan (its read was abandoned: the share went away, shutdown).</summary>
    public void Forget(FileCandidate candidate)
    {
        lock (_handledLock)
        {
            _handled.Remove(candidate);
        }
    }

    /// <summary>Why the share cannot be scanned now (a reason code), or null when it can.</summary>
    internal string? Unavailable()
    {
        if (!Directory.Exists(_share))
        {
            return "missing";
        }

        // Nothing mounted: the mount point is then a folder of its parent's file system, often empty.
        if (_mountPoint && ShareEntry.DeviceOf(_share) is { } device && device == ShareEntry.DeviceOf(Path.GetDirectoryName(_share) ?? "/"))
        {
            return "not-mounted";
        }

        return _marker is not null && !File.Exists(_marker) ? "marker-missing" : null;
    }

    /// <summary>One pass over the share; returns why it could not be scanned, or null.</summary>
    internal async Task<string?> ScanOnceAsync(ChannelWriter<FileCandidate> output, CancellationToken cancellationToken)
    {
        if (Unavailable() is { } why)
        {
            DropWatcher();
            return why;
        }

        EnsureWatcher();
        var generation = _database.Status.All().TryGetValue(StatusKeys.RetryGeneration, out var g) ? g.Value : null;
        if (generation != _retryGeneration)
        {
            _retryGeneration = generation;
            lock (_handledLock)
            {
                _handled.Clear(); // files were put back by `agent quarantine retry`
            }
        }

        var files = new List<FileCandidate>();
        IReadOnlyDictionary<string, int> skipped;
        try
        {
            using var working = _health.Working(AgentStages.Scan); // a hung network mount blocks here
            using var listing = new ShareListing(_share);
            while (listing.MoveNext())
            {
                files.Add(listing.Current);
            }

            skipped = listing.SkippedFolders;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unavailable, said once (by the caller) while it lasts, not a warning per scan: a network share gone
            // stale fails every listing. By kind and code: its message names the folder, often after a patient.
            return Directory.Exists(_share) ? "unreadable: " + LogSafe.Error(e) : "missing";
        }

        ReportSkippedFolders(skipped);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var now = Environment.TickCount64;
        foreach (var file in files)
        {
            seen.Add(file.Path);
            lock (_handledLock)
            {
                if (_handled.Contains(file))
                {
                    continue;
                }
            }

            if (!_settling.TryGetValue(file.Path, out var previous) || previous.Size != file.Size || previous.ModifiedMs != file.ModifiedMs)
            {
                // First sight of this version: finished before? Then never offer it again.
                var known = _database.Files.Find(file.Path, file.Size, file.ModifiedMs);
                if (known is not null && FileStates.IsTerminal(known.State))
                {
                    MarkHandled(file);
                    _settling.Remove(file.Path);
                    continue;
                }

                // Found incomplete or unreadable and unchanged since: looked at again after a pause, not at every scan.
                if (known is { State: FileStates.Queued, Reason: FileReasons.Incomplete or FileReasons.PermissionDenied or FileReasons.ReadError }
                    && DateTimeOffset.UtcNow < DateTimeOffset.Parse(known.UpdatedAt, CultureInfo.InvariantCulture) + _rereadPause)
                {
                    continue;
                }

                _settling[file.Path] = (file.Size, file.ModifiedMs, now);
                if (_settle > TimeSpan.Zero)
                {
                    continue;
                }
            }
            else if (now - previous.Since < (long)_settle.TotalMilliseconds)
            {
                continue;
            }

            _settling.Remove(file.Path);
            MarkHandled(file);
            await output.WriteAsync(file, cancellationToken).ConfigureAwait(false);
        }

        if (TrackFinished)
        {
            // A file the agent may not read waits for a person, not for the agent: it does not keep the agent busy.
            ShareFinished = _settling.Count == 0 && files.All(f => _database.Files.Find(f.Path, f.Size, f.ModifiedMs) is { } row
                && (FileStates.IsTerminal(row.State) || row is { State: FileStates.Queued, Reason: FileReasons.PermissionDenied or FileReasons.ReadError }));
        }

        foreach (var gone in _settling.Keys.Where(p => !seen.Contains(p)).ToList())
        {
            _settling.Remove(gone);
        }

        lock (_handledLock)
        {
            _handled.RemoveWhere(f => !seen.Contains(f.Path)); // keeps memory to what is on the share now
        }

        return null;
    }

    private void ReportSkippedFolders(IReadOnlyDictionary<string, int> skipped)
    {
        // Once per change, not per scan: the same unreadable folder is skipped at every scan.
        var summary = string.Join(", ", skipped.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key} ×{e.Value}"));
        if (summary == _skippedSummary)
        {
            return;
        }

        if (skipped.Count == 0)
        {
            Log.ShareFoldersReadable(_logger);
        }
        else
        {
            Log.ShareFoldersSkipped(_logger, skipped.Values.Sum(), summary);
        }

        _skippedSummary = summary;
    }

    private void MarkHandled(FileCandidate file)
    {
        lock (_handledLock)
        {
            _handled.Add(file);
        }
    }

    /// <summary>Hidden and temporary names: a scanner or copy tool is still writing them, or they are not for us.</summary>
    internal static bool IsSkippedName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || name[0] == '.')
        {
            return true;
        }

        foreach (var suffix in TemporarySuffixes)
        {
            if (name.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private void EnsureWatcher()
    {
        if (_watcher is not null || _watcherFailed)
        {
            return;
        }

        try
        {
            var watcher = new FileSystemWatcher(_share) { IncludeSubdirectories = true, NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.Size | NotifyFilters.LastWrite };
            watcher.Created += (_, _) => _hint.Writer.TryWrite(true);
            watcher.Changed += (_, _) => _hint.Writer.TryWrite(true);
            watcher.Renamed += (_, _) => _hint.Writer.TryWrite(true);
            watcher.Error += (_, _) => _hint.Writer.TryWrite(true);
            watcher.EnableRaisingEvents = true;
            _watcher = watcher;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            // Only a hint: the scans carry on without it (inotify limits, network file systems).
            _watcherFailed = true;
            Log.WatcherUnavailable(_logger, e.Message);
        }
    }

    private void DropWatcher()
    {
        _watcher?.Dispose();
        _watcher = null;
    }

    /// <summary>Stops the watcher.</summary>
    public void Dispose() => DropWatcher();
}
