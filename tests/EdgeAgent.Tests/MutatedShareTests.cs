using System.Globalization;
using EdgeMed.Tests;
using Xunit.Abstractions;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12's fuzz campaign, through the agent (DicomIngest's fuzz test goes through the reader only): mutated DICOM
/// files on the share, the agent run until idle. Zero failures of the agent, zero restarts, and every file ends in a
/// terminal state, with a reason unless it was classified. 60 files in CI; <c>eng/reliability-campaign.sh fuzz</c> runs
/// 10,000 (EDGEMED_AGENT_FUZZ_FILES, EDGEMED_AGENT_FUZZ_SEED).
/// </summary>
public sealed class MutatedShareTests(ITestOutputHelper output) : IDisposable
{
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void MutatedFiles_EveryOneEndsWithAReason_AndTheAgentNeverFails()
    {
        var count = int.TryParse(Environment.GetEnvironmentVariable("EDGEMED_AGENT_FUZZ_FILES"), CultureInfo.InvariantCulture, out var n) ? n : 60;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("EDGEMED_AGENT_FUZZ_SEED"), CultureInfo.InvariantCulture, out var s) ? s : 20261201;
        var random = new Random(seed);
        var corpus = SharedData.AllDicomFiles().Where(f => new FileInfo(f).Length < 600_000).Select(File.ReadAllBytes).ToArray();
        for (var i = 0; i < count; i++)
        {
            var (bytes, how) = DicomMutator.Mutate(corpus[random.Next(corpus.Length)], random);
            var folder = Path.Combine(_w.Share, $"batch-{i / 100:D3}");
            Directory.CreateDirectory(folder);
            File.WriteAllBytes(Path.Combine(folder, $"case-{i:D5}-{how}.dcm"), bytes);
        }

        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var environment = new Dictionary<string, string>
        {
            ["EDGEMED__INCOMPLETEFILEWINDOW"] = "00:00:00", // nothing is being written here: a truncated file is final
            ["EDGEMED__DICOM__DECODETIMEOUT"] = "00:00:15",
        };
        using var agent = _w.Start(environment, "--stop-when-idle");
        Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(60 + (count * 2))), "intake did not finish\n" + agent.Log);

        var outcomes = _w.Query("SELECT state, coalesce(reason, '') AS reason, count(*) AS n FROM files GROUP BY state, reason ORDER BY state, reason");
        output.WriteLine($"{count} mutated files, seed {seed}: " + string.Join(", ", outcomes.Select(r => $"{r["state"]}{(((string)r["reason"]!).Length > 0 ? "/" + r["reason"] : "")} {r["n"]}")));
        Assert.Equal(0, agent.ExitCode);
        Assert.DoesNotContain("Agent failed", agent.Log, StringComparison.Ordinal);
        Assert.Equal(count, _w.Count("SELECT count(*) FROM files"));
        Assert.Equal(0, _w.Count("SELECT count(*) FROM files WHERE state NOT IN ('done', 'duplicate', 'ignored', 'quarantined')"));
        Assert.Equal(0, _w.Count("SELECT count(*) FROM files WHERE state <> 'done' AND coalesce(reason, '') = ''"));
    }
}
