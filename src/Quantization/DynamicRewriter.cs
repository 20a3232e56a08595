using Onnx;

namespace EdgeMed.Quantization;

/// <summary>
/// Dynamic int8 (<c>--format dynamic</c>): each planned MatMul with a 2-D weight becomes ONNX Runtime's
/// <c>DynamicQuantizeMatMul</c> (com.microsoft), which quantizes its float input per run to uint8 from the input's own
/// range and multiplies it with int8 weights (per output column, symmetric), returning float. No calibration, and no
/// Q/DQ nodes around the float LayerNorm, GELU and depthwise convolutions: on IConvNeXt-Tiny those cost more than the
/// static format's int8 products saved (docs/PERFORMANCE.md). Gemm and Conv stay float in this format.
/// </summary>
public static class DynamicRewriter
{
    /// <summary>The operator's domain.</summary>
    public const string Domain = "com.microsoft";

    /// <summary>The nodes of <paramref name="plan"/> this format takes: MatMul with a 2-D weight initializer.</summary>
    public static IReadOnlyList<QuantizedNode> Eligible(ModelProto model, IReadOnlyList<QuantizedNode> plan)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(plan);
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        return [.. plan.Where(p => p.OpType == "MatMul" && initializers.TryGetValue(p.Weight, out var w) && w.Dims.Count == 2)];
    }

    /// <summary>Returns the rewritten model; nodes of <paramref name="plan"/> that are not <see cref="Eligible"/> are refused.</summary>
    public static ModelProto Rewrite(ModelProto model, IReadOnlyList<QuantizedNode> plan)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(plan);
        if (Eligible(model, plan).Count != plan.Count)
        {
            throw new ArgumentException("The dynamic format takes only MatMul nodes with 2-D weights.", nameof(plan));
        }

        var result = model.Clone();
        var graph = result.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var byName = plan.ToDictionary(p => p.NodeName, StringComparer.Ordinal);
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            if (!byName.TryGetValue(node.Name.Length > 0 ? node.Name : node.Output[0], out var planned))
            {
                continue;
            }

            var (quantized, _) = QdqRewriter.AddQuantizedWeight(graph, initializers[planned.Weight], axis: 1);
            var dynamic = new NodeProto { OpType = "DynamicQuantizeMatMul", Domain = Domain, Name = node.Name + "_DynamicQuantizeMatMul" };
            dynamic.Input.Add(node.Input[0]);
            dynamic.Input.Add(quantized);
            dynamic.Input.Add(planned.Weight + "_scale");
            dynamic.Input.Add(planned.Weight + "_zero_point");
            dynamic.Output.AddRange(node.Output);
            graph.Node[i] = dynamic;
            replaced.Add(planned.Weight);
        }

        // The float weights are no longer read (a weight shared with a node left float stays).
        var stillRead = graph.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        foreach (var name in replaced.Where(n => !stillRead.Contains(n)))
        {
            graph.Initializer.Remove(initializers[name]);
        }

        if (!result.OpsetImport.Any(o => o.Domain == Domain))
        {
            result.OpsetImport.Add(new OperatorSetIdProto { Domain = Domain, Version = 1 });
        }

        return result;
    }
}
