using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, item 3: <c>systemctl stop</c> sends SIGTERM to every process of the service, the decoder child too. A
/// decoder that died of it mid-file was counted as a decoder crash on that file (two stops, and a good file was
/// quarantined). Now the decoder leaves its lifetime to the agent: it ignores SIGTERM and SIGINT and ends when the
/// agent closes its input.
/// </summary>
public sealed partial class StopSignalTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void SigtermToTheDecoder_IsLeftToTheAgent_AndNeverCountsAgainstAFile()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        _w.Drop(AgentWorkspace.GeSlices(6), "first");
        using var agent = _w.Start();
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE state = 'done'") == 6, Patience, "the first series", agent);

        var decoder = int.Parse(DecoderStarted().Matches(agent.Log).Single().Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(0, kill(decoder, 15)); // what systemd's stop sends to every process of the unit
        Assert.Equal(0, kill(decoder, 2));  // and Ctrl-C in a terminal, to the process group
        Thread.Sleep(500);
        Assert.True(Directory.Exists($"/proc/{decoder}"), "the decoder died of the signal");

        _w.Drop(AgentWorkspace.PhilipsSlices(4), "second");
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE state = 'done'") == 10, Patience, "the second series", agent);
        Assert.Single(DecoderStarted().Matches(agent.Log));
        Assert.DoesNotContain("Decoder process died", agent.Log, StringComparison.Ordinal);
        Assert.Equal(0, _w.Count("SELECT count(*) FROM files WHERE reason = 'decoder-crashed'"));

        // The agent's own stop ends the decoder: it closes the decoder's input.
        Assert.Equal(0, agent.Terminate());
        AgentWorkspace.WaitFor(() => !Directory.Exists($"/proc/{decoder}") || File.ReadAllText($"/proc/{decoder}/stat").Contains(") Z ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the decoder to end with the agent");
    }

    [GeneratedRegex(@"Decoder process (\d+) started")]
    private static partial Regex DecoderStarted();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
