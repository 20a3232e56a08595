using System.Runtime.InteropServices;
using EdgeMed.Onnx;
using EdgeMed.Onnx.Model;
using Google.Protobuf;
using Onnx;

namespace EdgeMed.Quantization;

/// <summary>How activations and weights are encoded.</summary>
public sealed record QdqFormat
{
    /// <summary>
    /// Activations as uint8 (U8S8) instead of int8 (S8S8, the default): zero point 0 for non-negative tensors,
    /// 128 for signed ones. For CPUs without VNNI, where ONNX Runtime's U8S8 kernels can saturate.
    /// </summary>
    public bool UnsignedActivations { get; init; }

    /// <summary>
    /// Weights in 7 bits (±63). ONNX Runtime documents this as the fix for U8S8 saturation on x86 CPUs without VNNI
    /// (their int16 intermediate sums overflow with full-range weights); it costs weight precision.
    /// </summary>
    public bool ReduceRange { get; init; }

    /// <summary>
    /// MatMul outputs stay float: no Q/DQ after a quantized MatMul, so ONNX Runtime fuses its input DQs into
    /// MatMulIntegerToFloat (int8 product, float result) instead of QLinearMatMul plus a standalone DequantizeLinear
    /// for the float GELU, layer scale and residual that follow it in ConvNeXt.
    /// </summary>
    public bool FloatMatMulOutputs { get; init; }

    /// <summary>Whether <paramref name="node"/>'s output gets its own Q/DQ (and so needs a calibrated threshold).</summary>
    public bool RequantizesOutput(QuantizedNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return !(FloatMatMulOutputs && node.OpType == "MatMul");
    }
}

/// <summary>
/// Rewrites a float model into QDQ form: QuantizeLinear/DequantizeLinear pairs around each quantized node's activation
/// input and, unless <see cref="QdqFormat.FloatMatMulOutputs"/> spares a MatMul's, its output (int8, per tensor,
/// symmetric: zero point 0, scale = threshold / 127), weights stored as int8 per output channel (symmetric), biases as
/// int32 with scale = activation scale × weight scale. ONNX Runtime fuses such groups into integer kernels
/// (QLinearConv, QLinearMatMul, QGemm; MatMulIntegerToFloat where a MatMul's output stays float).
/// </summary>
public static class QdqRewriter
{
    /// <summary>Largest int8 magnitude used (symmetric: −127…127, so −x is representable whenever x is).</summary>
    public const int Int8Max = 127;

    /// <summary>Returns the S8S8 QDQ model; <paramref name="thresholds"/> holds the clipping threshold of every activation the plan names.</summary>
    public static ModelProto Rewrite(ModelProto model, IReadOnlyList<QuantizedNode> plan, IReadOnlyDictionary<string, float> thresholds) =>
        Rewrite(model, plan, thresholds, new Dictionary<string, bool>(), new QdqFormat());

    /// <summary>
    /// Returns the QDQ model in <paramref name="format"/>; <paramref name="hasNegatives"/> says which activations had negative
    /// values in calibration (used for uint8 activations; missing means signed).
    /// </summary>
    public static ModelProto Rewrite(ModelProto model, IReadOnlyList<QuantizedNode> plan, IReadOnlyDictionary<string, float> thresholds, IReadOnlyDictionary<string, bool> hasNegatives, QdqFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(hasNegatives);
        var weightMax = format.ReduceRange ? 63 : Int8Max;

        // Activation encoding: int8 symmetric, or uint8 over [−T, T] (zero point 128) or [0, T] (zero point 0).
        (float Scale, TensorProto ZeroPoint) Encoding(string tensor, string zeroPointName)
        {
            var threshold = Math.Max(thresholds[tensor], 1e-8f);
            if (!format.UnsignedActivations)
            {
                return (threshold / Int8Max, GraphBuilder.Tensor<sbyte>(zeroPointName, [0]));
            }

            var hasNegative = hasNegatives.GetValueOrDefault(tensor, true);
            return hasNegative
                ? (2 * threshold / 255, GraphBuilder.Tensor<byte>(zeroPointName, [128]))
                : (threshold / 255, GraphBuilder.Tensor<byte>(zeroPointName, [0]));
        }

        ArgumentNullException.ThrowIfNull(model);
        var result = model.Clone();

        var graph = result.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var nodesByName = graph.Node.ToDictionary(n => n.Name.Length > 0 ? n.Name : n.Output[0], StringComparer.Ordinal);
        var dequantized = new Dictionary<string, string>(StringComparer.Ordinal); // activation → its DQ output
        var newNodes = new List<(NodeProto Before, NodeProto[] Inserted)>();
        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);

        string ActivationScaleName(string tensor) => tensor + "_scale";

        string Dequantized(string tensor, NodeProto anchor)
        {
            if (dequantized.TryGetValue(tensor, out var existing))
            {
                return existing;
            }

            if (!thresholds.ContainsKey(tensor))
            {
                throw new ArgumentException($"No calibration threshold for activation {tensor}.", nameof(thresholds));
            }

            var (scale, zeroPoint) = Encoding(tensor, tensor + "_zero_point");
            graph.Initializer.Add(GraphBuilder.Tensor<float>(ActivationScaleName(tensor), [scale]));
            graph.Initializer.Add(zeroPoint);
            var q = new NodeProto { OpType = "QuantizeLinear", Name = tensor + "_QuantizeLinear" };
            q.Input.Add(tensor);
            q.Input.Add(ActivationScaleName(tensor));
            q.Input.Add(tensor + "_zero_point");
            q.Output.Add(tensor + "_quantized");
            var dq = new NodeProto { OpType = "DequantizeLinear", Name = tensor + "_DequantizeLinear" };
            dq.Input.Add(tensor + "_quantized");
            dq.Input.Add(ActivationScaleName(tensor));
            dq.Input.Add(tensor + "_zero_point");
            dq.Output.Add(tensor + "_dequantized");
            newNodes.Add((anchor, [q, dq]));
            dequantized[tensor] = tensor + "_dequantized";
            return tensor + "_dequantized";
        }

        foreach (var planned in plan)
        {
            var node = nodesByName[planned.NodeName];
            var activationScale = Encoding(planned.Activation, "unused").Scale;

            // Input activation: Q/DQ placed before the node (after the producer, which precedes it).
            node.Input[0] = Dequantized(planned.Activation, node);

            // Weight: int8 per output channel.
            var weight = initializers[planned.Weight];
            var (wName, weightScales) = AddQuantizedWeight(graph, weight, planned.WeightAxis, weightMax);
            var weightDq = new NodeProto { OpType = "DequantizeLinear", Name = planned.Weight + "_DequantizeLinear" };
            weightDq.Input.Add(wName);
            weightDq.Input.Add(planned.Weight + "_scale");
            weightDq.Input.Add(planned.Weight + "_zero_point");
            weightDq.Output.Add(planned.Weight + "_dequantized");
            weightDq.Attribute.Add(GraphBuilder.Attribute("axis", (long)planned.WeightAxis));
            node.Input[1] = planned.Weight + "_dequantized";
            var inserted = new List<NodeProto> { weightDq };

            // Bias: int32 with scale = activation scale × weight scale of its channel.
            if (planned.Bias is { } biasName && initializers.TryGetValue(biasName, out var bias) && bias.DataType == (int)TensorElementType.Float)
            {
                var values = Floats(bias);
                var biasScales = weightScales.Select(s => s * activationScale).ToArray();
                var quantizedBias = new int[values.Length];
                for (var c = 0; c < values.Length; c++)
                {
                    quantizedBias[c] = (int)Math.Clamp(Math.Round(values[c] / biasScales[c]), int.MinValue, int.MaxValue);
                }

                var biasTensor = new TensorProto { Name = biasName + "_quantized", DataType = (int)TensorElementType.Int32, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(quantizedBias.AsSpan())) };
                biasTensor.Dims.Add(values.Length);
                graph.Initializer.Add(biasTensor);
                graph.Initializer.Add(GraphBuilder.Tensor<float>(biasName + "_scale", biasScales, biasScales.Length));
                var zero = new TensorProto { Name = biasName + "_zero_point", DataType = (int)TensorElementType.Int32, RawData = ByteString.CopyFrom(new byte[4 * values.Length]) };
                zero.Dims.Add(values.Length);
                graph.Initializer.Add(zero);
                var biasDq = new NodeProto { OpType = "DequantizeLinear", Name = biasName + "_DequantizeLinear" };
                biasDq.Input.Add(biasName + "_quantized");
                biasDq.Input.Add(biasName + "_scale");
                biasDq.Input.Add(biasName + "_zero_point");
                biasDq.Output.Add(biasName + "_dequantized");
                biasDq.Attribute.Add(GraphBuilder.Attribute("axis", 0L));
                node.Input[2] = biasName + "_dequantized";
                inserted.Add(biasDq);
            }

            newNodes.Add((node, [.. inserted]));

            // Output activation: the node writes O_float; Q/DQ turn it back into O for every consumer.
            if (thresholds.ContainsKey(planned.Output) && !graphOutputs.Contains(planned.Output) && format.RequantizesOutput(planned))
            {
                var floatOutput = planned.Output + "_float";
                node.Output[0] = floatOutput;
                var (outScale, outZeroPoint) = Encoding(planned.Output, planned.Output + "_zero_point");
                graph.Initializer.Add(GraphBuilder.Tensor<float>(planned.Output + "_scale", [outScale]));
                graph.Initializer.Add(outZeroPoint);
                var q = new NodeProto { OpType = "QuantizeLinear", Name = planned.Output + "_QuantizeLinear" };
                q.Input.AddRange([floatOutput, planned.Output + "_scale", planned.Output + "_zero_point"]);
                q.Output.Add(planned.Output + "_quantized");
                var dq = new NodeProto { OpType = "DequantizeLinear", Name = planned.Output + "_DequantizeLinear" };
                dq.Input.AddRange([planned.Output + "_quantized", planned.Output + "_scale", planned.Output + "_zero_point"]);
                dq.Output.Add(planned.Output);
                newNodes.Add((node, [q, dq])); // placed after the node below
                dequantized[planned.Output] = planned.Output;
            }
        }

        // Rebuild the node list in a valid topological order: weight/bias DQs and input Q/DQs before their node, output Q/DQ after it.
        var ordered = new List<NodeProto>();
        foreach (var node in graph.Node)
        {
            foreach (var (anchor, inserted) in newNodes.Where(n => ReferenceEquals(n.Before, node)))
            {
                if (inserted.Length == 2 && inserted[0].OpType == "QuantizeLinear" && inserted[0].Input[0] == node.Output[0])
                {
                    continue; // output Q/DQ: after the node
                }

                ordered.AddRange(inserted);
            }

            ordered.Add(node);
            foreach (var (anchor, inserted) in newNodes.Where(n => ReferenceEquals(n.Before, node)))
            {
                if (inserted.Length == 2 && inserted[0].OpType == "QuantizeLinear" && inserted[0].Input[0] == node.Output[0])
                {
                    ordered.AddRange(inserted);
                }
            }
        }

        graph.Node.Clear();
        graph.Node.AddRange(ordered);

        // Float weights no node reads any more are dropped: that is where the size goes.
        var used = graph.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        foreach (var unused in graph.Initializer.Where(t => !used.Contains(t.Name)).ToList())
        {
            graph.Initializer.Remove(unused);
        }

        return result;
    }

    /// <summary>
    /// Adds <paramref name="weight"/> quantized per output channel as initializers NAME_quantized (int8), NAME_scale and
    /// NAME_zero_point (zeros); returns the int8 tensor's name and the scales.
    /// </summary>
    internal static (string Name, float[] Scales) AddQuantizedWeight(GraphProto graph, TensorProto weight, int axis, int levels = Int8Max)
    {
        var (values, scales) = QuantizePerChannel(weight, axis, levels);
        var quantized = new TensorProto { Name = weight.Name + "_quantized", DataType = (int)TensorElementType.Int8, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        quantized.Dims.AddRange(weight.Dims);
        graph.Initializer.Add(quantized);
        graph.Initializer.Add(GraphBuilder.Tensor<float>(weight.Name + "_scale", scales, scales.Length));
        graph.Initializer.Add(GraphBuilder.Tensor<sbyte>(weight.Name + "_zero_point", new sbyte[scales.Length], scales.Length));
        return (quantized.Name, scales);
    }

    /// <summary>Symmetric int8 per output channel along <paramref name="axis"/>: scale_c = max |w_c| / <paramref name="levels"/> (127, or 63 with reduced range).</summary>
    internal static (sbyte[] Values, float[] Scales) QuantizePerChannel(TensorProto weight, int axis, int levels = Int8Max)
    {
        var values = Floats(weight);
        var dims = weight.Dims.Select(d => (int)d).ToArray();
        var channels = dims[axis];
        var inner = dims.Skip(axis + 1).Aggregate(1, (a, b) => a * b);
        var scales = new float[channels];
        for (var i = 0; i < values.Length; i++)
        {
            var c = i / inner % channels;
            scales[c] = Math.Max(scales[c], Math.Abs(values[i]));
        }

        for (var c = 0; c < channels; c++)
        {
            scales[c] = scales[c] > 0 ? scales[c] / levels : 1e-8f;
        }

        var quantized = new sbyte[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            quantized[i] = (sbyte)Math.Clamp(Math.Round(values[i] / scales[i / inner % channels], MidpointRounding.ToEven), -levels, levels);
        }

        return (quantized, scales);
    }

    internal static float[] Floats(TensorProto tensor) => EdgeMed.Onnx.Model.TensorValues.Floats(tensor);
}
