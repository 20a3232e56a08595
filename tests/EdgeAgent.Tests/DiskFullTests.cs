using System.Diagnostics;
using Microsoft.Data.Sqlite;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12: the disk under the database filled up (another program; the intake watermark only stops the agent's own
/// growth). SQLite's "database or disk is full" failed the pipeline at once, and at start-up it came out of the host
/// as an unhandled exception with a stack trace, in a restart loop. Now writes wait for space like they wait for a
/// lock (one warning, one line when space is back; past EdgeMed:DatabaseBusyTimeout the agent exits 1 with one
/// Critical line), and a start on a full disk says so in one line. The database sits on a real 16 MB tmpfs filled by
/// a real file.
/// </summary>
public sealed class DiskFullTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();
    private readonly string _data;

    public DiskFullTests()
    {
        _data = Path.GetDirectoryName(_w.Database)!;
        Directory.CreateDirectory(_data);
        Run("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", _data);
    }

    private string Filler => Path.Combine(_data, "filler");

    public void Dispose()
    {
        Run("umount", "-l", _data);
        _w.Dispose();
    }

    [Fact]
    public void DiskFillsWhileRunning_WritesWaitForSpace_AndNothingIsLost()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        using var agent = _w.Start(new Dictionary<string, string> { ["EDGEMED__MINFREEDISKMEGABYTES"] = "0" });
        AgentWorkspace.WaitFor(() => agent.Log.Contains("Agent starting", StringComparison.Ordinal), Patience, "the agent to start", agent);

        FillDisk();
        _w.Drop(AgentWorkspace.GeSlices(6));
        AgentWorkspace.WaitFor(() => agent.Log.Contains("file system is full", StringComparison.Ordinal), Patience, "the agent to find the disk full", agent);
        Thread.Sleep(2000);
        Assert.False(agent.HasExited, "the agent waits for space instead of failing\n" + agent.Log);

        File.Delete(Filler);
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE state = 'done'") == 6, Patience, "the six slices done once space is back", agent);
        Assert.Contains("has space again", agent.Log, StringComparison.Ordinal);
        Assert.Equal(1, agent.LinesWith("file system is full"));
        Assert.Equal(0, agent.Terminate());
        Assert.Equal("ok", IntegrityCheck());
    }

    [Fact]
    public void FullAtStart_OneLineSaysSo_AndTheNextStartFinishes()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        using (var first = _w.Start(extraArgs: "--stop-when-idle"))
        {
            Assert.True(first.WaitForExit(Patience), first.Log); // creates the database on the tmpfs
        }

        _w.Drop(AgentWorkspace.GeSlices(6));
        FillDisk();
        var settings = new Dictionary<string, string> { ["EDGEMED__MINFREEDISKMEGABYTES"] = "0", ["EDGEMED__DATABASEBUSYTIMEOUT"] = "00:00:03" };
        using (var agent = _w.Start(settings, "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(Patience), "the agent did not give up\n" + agent.Log);
            // The database cannot even be opened (its WAL index needs space): one line saying so, exit 2, no stack trace.
            Assert.True(agent.ExitCode != 0, agent.Log);
            Assert.Equal(1, agent.LinesWith("is full"));
            Assert.DoesNotContain("   at ", agent.Log, StringComparison.Ordinal); // no stack trace
            Assert.DoesNotContain("Unhandled exception", agent.Log, StringComparison.Ordinal);
        }

        File.Delete(Filler);
        using var again = _w.Start(settings, "--stop-when-idle");
        Assert.True(again.WaitForExit(Patience), again.Log);
        Assert.Equal(0, again.ExitCode);
        Assert.Equal(6, _w.Count("SELECT count(*) FROM files WHERE state = 'done'"));
        Assert.Equal("ok", IntegrityCheck());
    }

    [Fact]
    public void FullAtStart_WhenTheDatabaseStillOpens_StartFailsInOneLineWellInsideSystemdsStartTimeout()
    {
        // A killed agent leaves its WAL and WAL index, so the next start opens the database and fails on its first
        // write. With the default 5 min patience that wait would outlast TimeoutStartSec (90 s): start-up waits 30 s.
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var settings = new Dictionary<string, string> { ["EDGEMED__MINFREEDISKMEGABYTES"] = "0" };
        using (var first = _w.Start(settings))
        {
            AgentWorkspace.WaitFor(() => first.Log.Contains("Agent starting", StringComparison.Ordinal), Patience, "the agent to start", first);
            FillDisk();
            first.Kill();
        }

        var clock = Stopwatch.StartNew();
        using var agent = _w.Start(settings);
        Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(75)), "the start did not give up inside systemd's start timeout\n" + agent.Log);
        Assert.True(agent.ExitCode == 1, agent.Log);
        Assert.InRange(clock.Elapsed.TotalSeconds, 25, 75);
        Assert.Equal(1, agent.LinesWith("crit:"));
        Assert.Contains("stayed full", agent.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", agent.Log, StringComparison.Ordinal);
    }

    /// <summary>Writes a file until the tmpfs refuses more.</summary>
    private void FillDisk()
    {
        var chunk = new byte[64 * 1024];
        using var filler = new FileStream(Filler, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.WriteThrough);
        try
        {
            while (true)
            {
                filler.Write(chunk);
            }
        }
        catch (IOException)
        {
            // no space left on device
        }
    }

    private string IntegrityCheck()
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _w.Database, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA integrity_check";
        return (string)command.ExecuteScalar()!;
    }

    private static void Run(string file, params string[] args)
    {
        var (code, error) = AgentWorkspace.RunTool(file, args);
        Assert.True(code == 0, $"{file} {string.Join(' ', args)}: {error} (the test needs root allowed to mount a tmpfs)");
    }
}
