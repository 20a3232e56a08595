namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, item 5: a study folder moved inside the share after its files were read, or while the agent was down,
/// came back as "duplicates" of rows whose paths were gone: with the agent down, the series was never classified and
/// its old rows stayed "read" for ever. Now a file whose first path is gone takes its first row along.
/// </summary>
public sealed class MovedFolderTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void FolderMovedWhileTheAgentWasDown_IsClassifiedOnce_WithNoDuplicatesAndNoStuckRows()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        _w.Drop(AgentWorkspace.GeSlices(6), "study");
        using (var first = _w.Start(new Dictionary<string, string> { ["EDGEMED__SERIESQUIETPERIOD"] = "00:10:00" }))
        {
            AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE state = 'read'") == 6, Patience, "six files read", first);
            first.Kill(); // read, waiting for the series' quiet period: the power goes
        }

        Directory.CreateDirectory(Path.Combine(_w.Share, "archive"));
        Directory.Move(Path.Combine(_w.Share, "study"), Path.Combine(_w.Share, "archive", "study"));
        using var second = _w.Start(extraArgs: "--stop-when-idle");
        Assert.True(second.WaitForExit(Patience), "rows stayed unfinished after the move\n" + second.Log);
        Assert.Equal(0, second.ExitCode);

        AssertClassifiedOnceAtTheNewPlace();
    }

    [Fact]
    public void FolderMovedAfterItsFilesWereRead_IsClassifiedOnce_WithNoDuplicates()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        _w.Drop(AgentWorkspace.GeSlices(6), "study");
        using var agent = _w.Start(new Dictionary<string, string> { ["EDGEMED__SERIESQUIETPERIOD"] = "00:00:04" });
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE state IN ('read', 'done')") == 6, Patience, "six files read", agent);
        Directory.CreateDirectory(Path.Combine(_w.Share, "archive"));
        Directory.Move(Path.Combine(_w.Share, "study"), Path.Combine(_w.Share, "archive", "study"));

        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE state = 'done' AND path LIKE '%/archive/study/%'") == 6, Patience, "the six rows to follow the move", agent);
        Assert.Equal(0, agent.Terminate());
        AssertClassifiedOnceAtTheNewPlace();
    }

    private void AssertClassifiedOnceAtTheNewPlace()
    {
        Assert.Equal(1, _w.Count("SELECT count(*) FROM series"));
        Assert.Equal(6, _w.Count("SELECT count(*) FROM slices"));
        Assert.Equal(6, _w.Count("SELECT count(*) FROM files"));
        Assert.Equal(6, _w.Count("SELECT count(*) FROM files WHERE state = 'done' AND path LIKE '%/archive/study/%'"));
        Assert.Equal(0, _w.Count("SELECT count(*) FROM files WHERE state = 'duplicate'"));
    }
}
