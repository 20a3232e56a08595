using EdgeMed.EdgeAgent.Ledger;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, item 4: every death during inference was counted against each file of the series, so two power cuts
/// during one series quarantined good files one by one as "agent-crashed". Now deaths are counted per series and per
/// boot: a power cut does not count, and a series whose inference kills the agent three times in one boot is
/// quarantined as one unit, left in place, with its reason.
/// </summary>
public sealed class InferenceCrashTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void SeriesWhoseInferenceKillsTheAgentThreeTimes_IsQuarantinedAsOneUnit_InPlace()
    {
        TestPackages.Write(Path.Combine(_w.Models, "slow"), 1f, DateTimeOffset.UtcNow.AddHours(-1), slowLayers: 600);
        _w.Drop(AgentWorkspace.GeSlices(6), "study");
        var environment = new Dictionary<string, string> { ["EDGEMED__BATCHSIZE"] = "1" };

        for (var death = 1; death <= 3; death++)
        {
            using var agent = _w.Start(environment);
            AgentWorkspace.WaitFor(() => _w.Count("SELECT coalesce(max(attempts), 0) FROM inference_attempts") == death, Patience, $"inference attempt {death}", agent);
            agent.Kill(); // out of memory, a native fault in the runtime: the process is gone mid-series
            Assert.Equal(6, _w.Count("SELECT count(*) FROM files WHERE state = 'read'")); // no file counted against
        }

        using var last = _w.Start(environment, "--stop-when-idle");
        Assert.True(last.WaitForExit(Patience), "intake did not finish\n" + last.Log);
        Assert.Equal(0, last.ExitCode);
        Assert.Equal(6, _w.Count("SELECT count(*) FROM files WHERE state = 'quarantined' AND reason = 'inference-crashed' AND quarantine_path = ''"));
        Assert.Equal(0, _w.Count("SELECT count(*) FROM inference_attempts"));
        Assert.Equal(6, Directory.GetFiles(Path.Combine(_w.Share, "study")).Length);
    }

    [Fact]
    public void Deaths_CountPerBoot_AndAnEndedAttemptIsNoDeath()
    {
        using var database = AgentDatabase.Open(_w.Database);
        var inference = database.Inference;
        Assert.Equal(0, inference.Begin("1.2.3", "boot-a"));
        Assert.Equal(1, inference.Begin("1.2.3", "boot-a")); // the agent died during the first
        Assert.Equal(2, inference.Begin("1.2.3", "boot-a"));
        Assert.Equal(0, inference.Begin("1.2.3", "boot-b")); // a power cut: the machine booted again
        Assert.Equal(0, inference.Begin("4.5.6", "boot-b")); // per series
        inference.End("1.2.3");
        Assert.Equal(0, inference.Begin("1.2.3", "boot-b")); // stored, or stopped cleanly
        Assert.Equal(1, inference.Pending("1.2.3"));
        Assert.False(string.IsNullOrEmpty(Operations.MachineBoot.Id));
    }
}
