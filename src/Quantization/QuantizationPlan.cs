using Onnx;

namespace EdgeMed.Quantization;

/// <summary>One node to quantize: its activation input, its weight initializer and the weight's output-channel axis.</summary>
/// <param name="NodeName">The node's name.</param>
/// <param name="OpType">MatMul, Gemm or Conv.</param>
/// <param name="Activation">The activation input (quantized per tensor from calibration).</param>
/// <param name="Weight">The weight initializer (quantized per output channel).</param>
/// <param name="WeightAxis">Axis of the weight's output channels.</param>
/// <param name="Bias">The bias initializer, if any.</param>
/// <param name="Output">The node's output.</param>
public sealed record QuantizedNode(string NodeName, string OpType, string Activation, string Weight, int WeightAxis, string? Bias, string Output);

/// <summary>A node left in float, and why: shown in the report so every exclusion is visible.</summary>
/// <param name="NodeName">The node's name.</param>
/// <param name="OpType">Its operator.</param>
/// <param name="Reason">Why it stays float.</param>
public sealed record KeptFloatNode(string NodeName, string OpType, string Reason);

/// <summary>Which nodes get quantized.</summary>
public sealed record QuantizationSelection
{
    /// <summary>Operators considered (default MatMul, Gemm, Conv).</summary>
    public IReadOnlySet<string> OpTypes { get; init; } = new HashSet<string>(StringComparer.Ordinal) { "MatMul", "Gemm", "Conv" };

    /// <summary>Node names never quantized.</summary>
    public IReadOnlySet<string> ExcludeNodes { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Quantize depthwise (and other grouped) convolutions too (off: on ConvNeXt they got slower in int8, measured).</summary>
    public bool IncludeDepthwise { get; init; }

    /// <summary>Quantize squeeze-excitation gates too (off: a few small layers whose error multiplies every channel).</summary>
    public bool IncludeGates { get; init; }
}

/// <summary>
/// Decides which nodes of a model are quantized. By default: MatMul, Gemm and non-depthwise Conv whose weights are
/// float initializers; LayerNormalization, GELU/Erf, Softmax and Sigmoid are never touched (they are not in the
/// set), depthwise Conv and the layers of sigmoid gates (the SE path) stay float.
/// </summary>
public static class QuantizationPlan
{
    /// <summary>Plans <paramref name="model"/>.</summary>
    public static (IReadOnlyList<QuantizedNode> Quantized, IReadOnlyList<KeptFloatNode> Kept) Create(ModelProto model, QuantizationSelection? selection = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        selection ??= new QuantizationSelection();
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input)
            {
                if (!consumers.TryGetValue(input, out var list))
                {
                    consumers[input] = list = [];
                }

                list.Add(node);
            }
        }

        var quantized = new List<QuantizedNode>();
        var kept = new List<KeptFloatNode>();
        foreach (var node in graph.Node)
        {
            if (!selection.OpTypes.Contains(node.OpType) || node.Domain is { Length: > 0 } and not "ai.onnx")
            {
                continue;
            }

            var name = node.Name.Length > 0 ? node.Name : node.Output[0];
            string? reason = null;
            TensorProto? weight = null;
            if (selection.ExcludeNodes.Contains(name))
            {
                reason = "excluded by --exclude-nodes";
            }
            else if (node.Input.Count < 2 || !initializers.TryGetValue(node.Input[1], out weight) || weight.DataType != (int)TensorProto.Types.DataType.Float)
            {
                reason = "its weight is not a float initializer";
            }
            else if (node.OpType == "Conv" && Group(node) != 1 && !selection.IncludeDepthwise)
            {
                reason = "depthwise or grouped convolution";
            }
            else if (!selection.IncludeGates && FeedsSigmoid(node, consumers, depth: 3))
            {
                reason = "part of a sigmoid gate (squeeze-excitation path)";
            }
            else if (node.OpType is "MatMul" or "Gemm" && weight.Dims.Count != 2)
            {
                reason = "its weight is not a matrix";
            }

            if (reason is not null)
            {
                kept.Add(new KeptFloatNode(name, node.OpType, reason));
                continue;
            }

            var axis = node.OpType switch
            {
                "Conv" => 0,
                "Gemm" => TransB(node) ? 0 : 1,
                _ => 1,
            };
            var bias = node.OpType is "Conv" or "Gemm" && node.Input.Count > 2 && node.Input[2].Length > 0 ? node.Input[2] : null;
            quantized.Add(new QuantizedNode(name, node.OpType, node.Input[0], node.Input[1], axis, bias, node.Output[0]));
        }

        return (quantized, kept);
    }

    private static long Group(NodeProto node) => node.Attribute.FirstOrDefault(a => a.Name == "group")?.I ?? 1;

    private static bool TransB(NodeProto node) => (node.Attribute.FirstOrDefault(a => a.Name == "transB")?.I ?? 0) != 0;

    /// <summary>Whether a Sigmoid is reached from <paramref name="node"/>'s output within <paramref name="depth"/> nodes.</summary>
    private static bool FeedsSigmoid(NodeProto node, Dictionary<string, List<NodeProto>> consumers, int depth)
    {
        if (depth == 0)
        {
            return false;
        }

        foreach (var output in node.Output)
        {
            foreach (var next in consumers.GetValueOrDefault(output) ?? [])
            {
                if (next.OpType is "Sigmoid" or "HardSigmoid" || FeedsSigmoid(next, consumers, depth - 1))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
