using System.Diagnostics;
using System.Text.RegularExpressions;
using EdgeMed.EdgeAgent.Operations;
using Microsoft.Data.Sqlite;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, items 1 and 2: a technician's <c>sqlite3</c> holding the write lock made the pipeline fail after 30 s, and
/// the failed process stayed alive (scanner, heartbeat and watchdog running on) doing nothing. Now a lock is waited
/// out for EdgeMed:DatabaseBusyTimeout with one warning; past that, the agent logs one Critical line and exits non-zero
/// at once, and the next start finishes the work from the ledger.
/// </summary>
public sealed partial class LivenessTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void WriteLockHeldBriefly_IsWaitedOut_WithOneWarning_AndNothingLost()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        using var agent = _w.Start(new Dictionary<string, string> { ["EDGEMED__DATABASEBUSYTIMEOUT"] = "00:01:00" });
        AgentWorkspace.WaitFor(() => agent.Log.Contains("Agent starting", StringComparison.Ordinal), Patience, "the agent to start", agent);

        using (var technician = HoldWriteLock())
        {
            _w.Drop(AgentWorkspace.GeSlices(6));
            AgentWorkspace.WaitFor(() => agent.Log.Contains("locked by another program", StringComparison.Ordinal), Patience, "the agent to meet the lock", agent);
            Thread.Sleep(TimeSpan.FromSeconds(4)); // longer than one attempt inside SQLite: the agent's own patience is what waits
            Assert.False(agent.HasExited, agent.Log);
        }

        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE state = 'done'") == 6, Patience, "six files done after the lock was released", agent);
        Assert.Single(LockedWarnings().Matches(agent.Log));
        Assert.Contains("lock was released", agent.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("Agent failed", agent.Log, StringComparison.Ordinal);
        Assert.Equal(0, agent.Terminate());
    }

    [Fact]
    public void WriteLockHeldPastThePatience_ExitsNonZeroAtOnce_WithOneCriticalLine_AndTheNextStartFinishesTheWork()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var environment = new Dictionary<string, string> { ["EDGEMED__DATABASEBUSYTIMEOUT"] = "00:00:03" };
        using (var agent = _w.Start(environment))
        {
            AgentWorkspace.WaitFor(() => agent.Log.Contains("Agent starting", StringComparison.Ordinal), Patience, "the agent to start", agent);
            using var technician = HoldWriteLock();
            _w.Drop(AgentWorkspace.GeSlices(6));
            AgentWorkspace.WaitFor(() => agent.Log.Contains("locked by another program", StringComparison.Ordinal), Patience, "the agent to meet the lock", agent);

            // 3 s of patience, then out: before, the process lived on with its pipeline gone. 30 s is for a loaded machine.
            var clock = Stopwatch.StartNew();
            Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(30)), "the agent did not exit after its database patience ran out\n" + agent.Log);
            Assert.Equal(1, agent.ExitCode);
            Assert.Single(CriticalLines().Matches(agent.Log));
            Assert.Contains("crit:", agent.Log, StringComparison.Ordinal);
            Assert.Contains("stayed locked by another program", agent.Log, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", agent.Log, StringComparison.Ordinal); // one line, no stack trace
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30));
        }

        // systemd restarts it; the ledger and the share still hold every file.
        using var restarted = _w.Start(environment);
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE state = 'done'") == 6, Patience, "six files done after the restart", restarted);
        Assert.Equal(1, _w.Count("SELECT count(*) FROM series"));
        Assert.Equal(0, restarted.Terminate());
    }

    [Fact]
    public void BusyStage_WithoutProgressPastTheStallTimeout_IsAFault_NamedInStatus_AndClearsWhenItEnds()
    {
        var health = new AgentHealth { StallTimeout = TimeSpan.FromMilliseconds(100), ModelLoaded = true };
        Assert.False(health.Fault);
        using (health.Working(AgentStages.Read))
        {
            Assert.Null(health.StalledStage()); // just started
            Thread.Sleep(300);
            var stalled = health.StalledStage();
            Assert.Equal(AgentStages.Read, stalled?.Stage);
            Assert.True(stalled?.For >= TimeSpan.FromMilliseconds(100));
            Assert.True(health.Fault);
            Assert.StartsWith("STALLED: read", health.Describe(), StringComparison.Ordinal);
        }

        Assert.Null(health.StalledStage());
        Assert.False(health.Fault);
    }

    [Fact]
    public void BusyStage_ThatProgresses_IsNotStalled()
    {
        var health = new AgentHealth { StallTimeout = TimeSpan.FromHours(1), ModelLoaded = true };
        using var scope = health.Working(AgentStages.Classify);
        health.Progressed(AgentStages.Classify);
        health.Progressed(AgentStages.Scan); // not busy: no effect
        Assert.Null(health.StalledStage());
        Assert.False(health.Fault);
    }

    /// <summary>What a technician's <c>sqlite3</c> does with <c>BEGIN IMMEDIATE</c>: holds the write lock until closed.</summary>
    private SqliteConnection HoldWriteLock()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _w.Database, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA busy_timeout=30000; BEGIN IMMEDIATE;";
        command.ExecuteNonQuery();
        return connection;
    }

    [GeneratedRegex("locked by another program \\(sqlite3")]
    private static partial Regex LockedWarnings();

    [GeneratedRegex("Agent failed \\(")]
    private static partial Regex CriticalLines();
}
