using EdgeMed.EdgeAgent.Ledger;
using Microsoft.Data.Sqlite;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, item 2 (regression): query commands open the ledger read-only. A technician's sqlite3 holding the write
/// lock made every command fail with "database is locked"; a mistyped --db created a new empty database.
/// </summary>
public sealed class ReadOnlyQueryTests : IDisposable
{
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    private AgentProcess Cli(params string[] args) => AgentProcess.Start(_w.Root, args, new Dictionary<string, string>());

    [Fact]
    public void Status_WithAMistypedDbPath_IsAnError_AndCreatesNothing()
    {
        var wrong = Path.Combine(_w.Root, "typo", "edgemd.db");
        using var status = Cli("status", "--db", wrong);
        Assert.True(status.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Equal(2, status.ExitCode);
        Assert.Contains("no EdgeMed database at " + wrong, status.Log, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.GetDirectoryName(wrong)));
    }

    [Fact]
    public void QueryCommands_AnswerWhileAnotherConnectionHoldsTheWriteLock_AndLeaveTheFileAsItWas()
    {
        using (var database = AgentDatabase.Open(_w.Database))
        {
            database.Status.Set(StatusKeys.LastError, "none");
        }

        using var technician = new SqliteConnection($"Data Source={_w.Database};Pooling=False");
        technician.Open();
        using (var begin = technician.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE; INSERT INTO agent_status(key, value, updated_at) VALUES ('technician', 'was here', '2026-12-01T00:00:00.000Z');";
            begin.ExecuteNonQuery();
        }

        var before = Snapshot();
        foreach (var args in new[] { new[] { "status" }, ["results", "--series", "--format", "csv"], ["results", "--format", "json"], ["quarantine", "list"] })
        {
            using var query = Cli([.. args, "--db", _w.Database]);
            Assert.True(query.WaitForExit(TimeSpan.FromMinutes(1)), string.Join(' ', args) + " did not finish");
            Assert.True(query.ExitCode == 0, string.Join(' ', args) + ":\n" + query.Log);
        }

        Assert.Equal(before, Snapshot());
        using var rollback = technician.CreateCommand();
        rollback.CommandText = "ROLLBACK";
        rollback.ExecuteNonQuery();
    }

    /// <summary>The database's files and their bytes (the -shm index aside, which readers map).</summary>
    private string Snapshot() => string.Join('\n', Directory.GetFiles(Path.GetDirectoryName(_w.Database)!)
        .Where(f => !f.EndsWith("-shm", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
        .Select(f => Path.GetFileName(f) + " " + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))));
}
