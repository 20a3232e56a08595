using Microsoft.Extensions.Logging;

namespace EdgeMed.EdgeAgent.Operations;

/// <summary>
/// Pauses intake while the database's file system is short of space (results and the WAL must always fit), with one
/// log line when intake pauses and one when it resumes.
/// </summary>
public sealed class DiskWatermark
{
    private readonly long _minimumBytes;
    private readonly Func<long> _freeBytes;
    private readonly ILogger _logger;
    private bool _paused;

    /// <summary>Watches the file system holding <paramref name="folder"/>.</summary>
    public DiskWatermark(string folder, long minimumMegabytes, ILogger logger)
        : this(minimumMegabytes, () => new DriveInfo(Path.GetFullPath(folder)).AvailableFreeSpace, logger)
    {
    }

    /// <summary>Watches whatever <paramref name="freeBytes"/> reports (tests).</summary>
    internal DiskWatermark(long minimumMegabytes, Func<long> freeBytes, ILogger logger)
    {
        _minimumBytes = minimumMegabytes * 1024 * 1024;
        _freeBytes = freeBytes;
        _logger = logger;
    }

    /// <summary>Whether intake is paused now (as of the last <see cref="Check"/>).</summary>
    public bool IsPaused => _paused;

    /// <summary>Measures free space; returns true while intake should pause.</summary>
    public bool Check()
    {
        long free;
        try
        {
            free = _freeBytes();
        }
        catch (IOException)
        {
            return _paused;
        }

        var low = free < _minimumBytes;
        if (low != _paused)
        {
            _paused = low;
            var freeMb = free / (1024 * 1024);
            var minimumMb = _minimumBytes / (1024 * 1024);
            if (low)
            {
                Log.IntakePausedDiskLow(_logger, freeMb, minimumMb);
            }
            else
            {
                Log.IntakeResumed(_logger, freeMb, minimumMb);
            }
        }

        return low;
    }
}
