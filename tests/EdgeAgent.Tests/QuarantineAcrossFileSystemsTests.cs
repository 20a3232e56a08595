using EdgeMed.EdgeAgent.Share;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, item 7: with the share on a network mount and the quarantine local, a quarantine "move" is a copy and a
/// delete, and the copy was never fsynced: a power cut after the delete could lose the file. Now the copy is written
/// under a temporary name, fsynced, renamed into place and its folder fsynced before the original goes; a cut in
/// between leaves both, and <c>quarantine retry</c> accepts that.
/// </summary>
public sealed class QuarantineAcrossFileSystemsTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();
    private readonly string _local = Path.Combine("/dev/shm", $"edgemed-quarantine-{Guid.NewGuid():N}");

    public QuarantineAcrossFileSystemsTests() => _w.Quarantine = _local;

    public void Dispose()
    {
        _w.Dispose();
        if (Directory.Exists(_local))
        {
            Directory.Delete(_local, recursive: true);
        }
    }

    [Fact]
    public void RefusedFile_ArrivesWholeOnTheOtherFileSystem_WithItsTime_AndRetryAcceptsACutShortMove()
    {
        Directory.CreateDirectory(_local);
        Assert.NotEqual(ShareEntry.DeviceOf(_w.Share), ShareEntry.DeviceOf(_local)); // the premise: two file systems

        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var original = Path.Combine(_w.Share, "scanner", "notes.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(original)!);
        var bytes = new byte[100_000];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(original, bytes);
        var time = new DateTime(2026, 11, 30, 8, 0, 0, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(original, time);

        using (var agent = _w.Start(extraArgs: "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(Patience), "intake did not finish\n" + agent.Log);
            Assert.Equal(0, agent.ExitCode);
        }

        var row = _w.Query("SELECT * FROM files").Single();
        Assert.Equal("quarantined", row["state"]);
        var moved = (string)row["quarantine_path"]!;
        Assert.StartsWith(_local, moved, StringComparison.Ordinal);
        Assert.Equal(bytes, File.ReadAllBytes(moved));
        Assert.Equal(time, File.GetLastWriteTimeUtc(moved));
        Assert.False(File.Exists(original));
        Assert.Empty(Directory.GetFiles(_local, ".*", SearchOption.AllDirectories)); // no temporary copy left

        // A power cut after the copy, before the delete: both remain. Retry takes the original and drops the copy.
        File.Copy(moved, original);
        using var retry = AgentProcess.Start(_w.Root, ["quarantine", "retry", "--all", "--db", _w.Database], new Dictionary<string, string>());
        Assert.True(retry.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.True(retry.ExitCode == 0, retry.Log);
        Assert.False(File.Exists(moved));
        Assert.Equal(bytes, File.ReadAllBytes(original));
        Assert.Equal("queued", _w.Query("SELECT state FROM files").Single()["state"]);
    }
}
