using System.Globalization;
using System.Text.RegularExpressions;
using System.Text.Json;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary><c>agent bench</c>, the technician's measurement on a device (issue 14, item 5): ratios and, with --profile, time per operator type.</summary>
public sealed class AgentBenchTests : IDisposable
{
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void Bench_PrintsItsRatios_AndWithProfile_TimePerOperatorAndTheTrace()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        _w.Drop(AgentWorkspace.GeSlices(4), "input");
        var trace = Path.Combine(_w.Root, "profile.json");

        using var bench = AgentProcess.Start(_w.Root, ["bench", Path.Combine(_w.Share, "input"), "--models", _w.Models, "--rounds", "1", "--threads", "1", "--batch", "2", "--profile", trace], new Dictionary<string, string>());
        Assert.True(bench.WaitForExit(TimeSpan.FromMinutes(3)), bench.Log);
        Assert.True(bench.ExitCode == 0, bench.Log);

        Assert.Contains("pipeline / bare", bench.Log, StringComparison.Ordinal);
        Assert.Contains("start to READY", bench.Log, StringComparison.Ordinal);
        var lines = bench.Log.Split('\n');
        var header = Array.FindIndex(lines, l => l.Contains("op type", StringComparison.Ordinal));
        Assert.True(header > 0, bench.Log);
        Assert.Matches(@"^\s+\S+\s+\d+\s+\d+\.\d{3}\s+\d+\.\d %", lines[header + 1]); // op, nodes, ms per slice, share
        Assert.Contains("runs after the warm-up", bench.Log, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(File.ReadAllText(trace));
        Assert.Equal(JsonValueKind.Array, json.RootElement.ValueKind);

        // The graph as ONNX Runtime runs it, saved and counted beside the package's: the test model's MatMul+Add
        // pairs are fused (into Gemm-like kernels), so the optimized graph has fewer nodes.
        var graph = Regex.Match(bench.Log, @"graph\s+(\d+) nodes in the package, (\d+) as ONNX Runtime runs it");
        Assert.True(graph.Success, bench.Log);
        var (package, optimized) = (int.Parse(graph.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(graph.Groups[2].Value, CultureInfo.InvariantCulture));
        Assert.True(optimized < package, bench.Log);
        Assert.Equal(optimized, Onnx.Model.OnnxModelFile.Load(Path.ChangeExtension(trace, ".optimized.onnx")).Graph.Node.Count);
    }
}
