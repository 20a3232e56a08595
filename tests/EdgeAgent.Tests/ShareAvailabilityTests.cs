using System.Threading.Channels;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Operations;
using EdgeMed.EdgeAgent.Share;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, item 6: an unmounted share (the mount point there, empty) was scanned as an empty share, which looks
/// healthy. With EdgeMed:ShareIsMountPoint or EdgeMed:ShareMarker it is reported unavailable until it returns.
/// </summary>
public sealed class ShareAvailabilityTests : IDisposable
{
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public async Task MountPointWithNothingMounted_IsUnavailable_AndAMountedOneIsNot()
    {
        Assert.Equal("not-mounted", await ScanAsync(new AgentOptions { Share = _w.Share, ShareIsMountPoint = true }));
        Assert.Null(await ScanAsync(new AgentOptions { Share = "/dev/shm", ShareIsMountPoint = true })); // a real mount point
        Assert.Null(await ScanAsync(new AgentOptions { Share = _w.Share }));
    }

    [Fact]
    public async Task MissingMarker_IsUnavailable_UntilTheMarkerIsThere()
    {
        var options = new AgentOptions { Share = _w.Share, ShareMarker = ".edgemed-share" };
        Assert.Equal("marker-missing", await ScanAsync(options));
        File.WriteAllText(Path.Combine(_w.Share, ".edgemed-share"), string.Empty);
        Assert.Null(await ScanAsync(options));
        Assert.Equal("missing", await ScanAsync(new AgentOptions { Share = Path.Combine(_w.Root, "gone") }));
    }

    private async Task<string?> ScanAsync(AgentOptions options)
    {
        using var database = AgentDatabase.Open(_w.Database);
        using var scanner = new ShareScanner(options, database, new DiskWatermark(_w.Root, 0, NullLogger.Instance), new AgentHealth(), NullLogger.Instance);
        var files = Channel.CreateUnbounded<FileCandidate>();
        return await scanner.ScanOnceAsync(files.Writer, CancellationToken.None);
    }
}
