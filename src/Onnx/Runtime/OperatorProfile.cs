using System.Text.Json;

namespace EdgeMed.Onnx.Runtime;

/// <summary>Kernel time of one operator type over the profiled runs.</summary>
/// <param name="OpType">ONNX operator (Conv, MatMulInteger, …) as ONNX Runtime ran it, fused kernels by their own name.</param>
/// <param name="Nodes">Distinct nodes of that type in the optimized graph.</param>
/// <param name="Milliseconds">Kernel time summed over the profiled runs.</param>
public sealed record OperatorTime(string OpType, int Nodes, double Milliseconds);

/// <summary>
/// ONNX Runtime's session profile (<see cref="OnnxSessionOptions.ProfilePrefix"/>) summed by operator type: where the
/// milliseconds of a run go, in the graph ONNX Runtime actually executes (after its fusions).
/// </summary>
/// <param name="Runs">Model runs counted (the first <c>skipRuns</c> left out: warm-up).</param>
/// <param name="RunMilliseconds">Wall time of those runs, summed.</param>
/// <param name="Operators">Kernel time per operator type, largest first.</param>
public sealed record OperatorProfile(int Runs, double RunMilliseconds, IReadOnlyList<OperatorTime> Operators)
{
    /// <summary>Kernel time of all operators; the rest of <see cref="RunMilliseconds"/> is the executor's own.</summary>
    public double KernelMilliseconds => Operators.Sum(o => o.Milliseconds);

    /// <summary>Reads a profile file, leaving out the first <paramref name="skipRuns"/> runs and their nodes.</summary>
    /// <exception cref="InvalidDataException">The file is not an ONNX Runtime profile.</exception>
    public static OperatorProfile Read(string path, int skipRuns = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(skipRuns);
        using var stream = File.OpenRead(path);
        using var document = JsonDocument.Parse(stream);
        if (document.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"{path} is not an ONNX Runtime profile (a JSON array of trace events)");
        }

        // Runs in time order; nodes belong to the run whose span holds them.
        var events = document.RootElement.EnumerateArray().Where(e => e.TryGetProperty("ts", out _) && e.TryGetProperty("dur", out _)).ToList();
        var runs = events.Where(e => Name(e) == "model_run").Select(e => (Start: Time(e, "ts"), End: Time(e, "ts") + Time(e, "dur"))).OrderBy(r => r.Start).ToList();
        var counted = runs.Skip(skipRuns).ToList();
        var from = counted.Count > 0 ? counted[0].Start : double.MaxValue;
        var nodes = new Dictionary<(string Node, string Op), double>();
        foreach (var e in events)
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node" || !Name(e).EndsWith("_kernel_time", StringComparison.Ordinal) || Time(e, "ts") < from)
            {
                continue;
            }

            var op = e.TryGetProperty("args", out var args) && args.TryGetProperty("op_name", out var name) ? name.GetString() ?? "?" : "?";
            var key = (Name(e), op);
            nodes[key] = nodes.GetValueOrDefault(key) + Time(e, "dur");
        }

        var operators = nodes.GroupBy(n => n.Key.Op, StringComparer.Ordinal)
            .Select(g => new OperatorTime(g.Key, g.Count(), g.Sum(n => n.Value) / 1000))
            .OrderByDescending(o => o.Milliseconds).ToList();
        return new OperatorProfile(counted.Count, counted.Sum(r => r.End - r.Start) / 1000, operators);
    }

    private static string Name(JsonElement e) => e.TryGetProperty("name", out var n) ? n.GetString() ?? string.Empty : string.Empty;

    private static double Time(JsonElement e, string field) => e.GetProperty(field).GetDouble();
}
