namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, item 11: a model that returns NaN scores for a series made the result writer throw, and the stage's
/// failure took the agent down (and, restarted, down again on the same series). Now it is that series' error: its
/// files are quarantined in place with the reason, the agent lives on and the next series is classified.
/// </summary>
public sealed class NonFiniteOutputTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void NaNScores_AreTheSeriesError_FilesLeftInPlace_AndTheAgentGoesOn()
    {
        TestPackages.Write(Path.Combine(_w.Models, "nan"), 1f, DateTimeOffset.UtcNow.AddHours(-1), nonFiniteOnImages: true);
        _w.Drop(AgentWorkspace.GeSlices(6), "study");
        using var agent = _w.Start(extraArgs: "--stop-when-idle");

        Assert.True(agent.WaitForExit(Patience), "intake did not finish\n" + agent.Log);
        Assert.Equal(0, agent.ExitCode);
        Assert.Equal(6, _w.Count("SELECT count(*) FROM files WHERE state = 'quarantined' AND reason = 'model-output-not-finite' AND quarantine_path = ''"));
        Assert.Equal(0, _w.Count("SELECT count(*) FROM series"));
        Assert.Equal(6, Directory.GetFiles(Path.Combine(_w.Share, "study")).Length); // left in place
        Assert.Contains("model-output-not-finite", agent.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("Agent failed", agent.Log, StringComparison.Ordinal);
    }
}
