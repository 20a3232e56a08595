using EdgeMed.Onnx.Model;
using Onnx;

namespace EdgeMed.EdgeAgent.Explain;

/// <summary>
/// Class activation maps over IConvNeXt's last stage, without PyTorch: the session also returns the last
/// stage's feature map A (C × H × W), and the head after it — global average and max pool concatenated, SEVector
/// (FC, ReLU, FC, sigmoid, multiply), FC, ReLU, FC to the classes — is small enough to differentiate exactly here from
/// its weights, read out of the package's graph (dequantized where the int8 model stores them quantized). The
/// gradient of a class score y with respect to A is dy/dA(k,i,j) = g[k]/HW + g[C+k]·[(i,j) is A_k's maximum], where g
/// is dy/d(pooled vector); the map sums gradient × activation over the channels at each position (see
/// <see cref="Map"/>) and keeps the positive part.
/// </summary>
internal sealed class GradCam
{
    private readonly Dense _se1;
    private readonly Dense _se2;
    private readonly Dense _fc;
    private readonly Dense _head;
    private readonly bool _meanFirst;

    private GradCam(string featureMap, Dense se1, Dense se2, Dense fc, Dense head, bool meanFirst)
    {
        (FeatureMap, _se1, _se2, _fc, _head, _meanFirst) = (featureMap, se1, se2, fc, head, meanFirst);
        Channels = se1.Inputs / 2;
    }

    /// <summary>The graph tensor of the last stage's feature map (exposed as an extra output of the session).</summary>
    public string FeatureMap { get; }

    /// <summary>Channels of the feature map.</summary>
    public int Channels { get; }

    /// <summary>Classes of the head.</summary>
    public int Classes => _head.Outputs;

    /// <summary>The head of an IConvNeXt graph, or null when the graph does not end in that head (another architecture) or cannot be read.</summary>
    public static GradCam? For(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        try
        {
            return Find(model);
        }
        catch (Exception e) when (e is OnnxModelFormatException or ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            return null; // a graph read differently than expected has no maps rather than wrong ones
        }
    }

    private static GradCam? Find(ModelProto model)
    {
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output)
            {
                producers[output] = node;
            }

            foreach (var input in node.Input)
            {
                (consumers.TryGetValue(input, out var list) ? list : consumers[input] = []).Add(node);
            }
        }

        // An activation's int8 round trip (QuantizeLinear → DequantizeLinear) is followed to the dequantized tensor.
        string Skip(string tensor)
        {
            while (consumers.GetValueOrDefault(tensor) is [{ OpType: "QuantizeLinear" } q] && consumers.GetValueOrDefault(q.Output[0]) is [{ OpType: "DequantizeLinear" } dq])
            {
                tensor = dq.Output[0];
            }

            return tensor;
        }

        NodeProto? Next(string tensor, string op) => consumers.GetValueOrDefault(Skip(tensor))?.Where(n => n.OpType == op).ToList() is [var single] ? single : null;

        float[]? Values(string tensor)
        {
            if (initializers.TryGetValue(tensor, out var t))
            {
                return TensorValues.Floats(t);
            }

            if (producers.GetValueOrDefault(tensor) is { OpType: "DequantizeLinear" } dq && initializers.TryGetValue(dq.Input[0], out var q)
                && initializers.TryGetValue(dq.Input[1], out var s))
            {
                var values = TensorValues.Floats(q);
                var scales = TensorValues.Floats(s);
                var zeros = dq.Input.Count > 2 && initializers.TryGetValue(dq.Input[2], out var z) ? TensorValues.Floats(z) : new float[scales.Length];
                var axis = (int)(dq.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 1);
                var dims = q.Dims.Select(d => (int)d).ToArray();
                var inner = scales.Length == 1 ? values.Length : dims.Skip(axis + (axis < 0 ? dims.Length : 0) + 1).Aggregate(1, (a, b) => a * b);
                for (var i = 0; i < values.Length; i++)
                {
                    var c = scales.Length == 1 ? 0 : i / inner % scales.Length;
                    values[i] = (values[i] - zeros[c]) * scales[c];
                }

                return values;
            }

            return null;
        }

        Dense? Gemm(NodeProto? node)
        {
            if (node is null || node.Input.Count < 2 || node.Attribute.Any(a => (a.Name is "alpha" or "beta" && Math.Abs(a.F - 1f) > 0) || (a.Name == "transA" && a.I != 0)))
            {
                return null;
            }

            var weights = Values(node.Input[1]);
            var hasBias = node.Input.Count > 2 && node.Input[2].Length > 0;
            var bias = hasBias ? Values(node.Input[2]) : null;
            var transB = node.Attribute.FirstOrDefault(a => a.Name == "transB")?.I == 1;
            var dims = initializers.TryGetValue(node.Input[1], out var direct) ? direct.Dims
                : producers.TryGetValue(node.Input[1], out var dq) && dq.OpType == "DequantizeLinear" && initializers.TryGetValue(dq.Input[0], out var q) ? q.Dims : null;
            if (weights is null || dims is not { Count: 2 } || (hasBias && bias is null))
            {
                return null;
            }

            var (outputs, inputs) = transB ? ((int)dims[0], (int)dims[1]) : ((int)dims[1], (int)dims[0]);
            if (weights.Length != outputs * inputs || (bias is not null && bias.Length != outputs))
            {
                return null; // external data, or a broadcast bias: not this head
            }

            var matrix = transB ? weights : Transpose(weights, inputs, outputs);
            return new Dense(matrix, bias ?? new float[outputs], inputs, outputs);
        }

        foreach (var concat in graph.Node.Where(n => n.OpType == "Concat" && n.Input.Count == 2))
        {
            var (first, second) = (producers.GetValueOrDefault(concat.Input[0]), producers.GetValueOrDefault(concat.Input[1]));
            var mean = new[] { first, second }.FirstOrDefault(n => n?.OpType is "ReduceMean" or "GlobalAveragePool");
            var max = new[] { first, second }.FirstOrDefault(n => n?.OpType is "ReduceMax" or "GlobalMaxPool");
            // Pools over the spatial axes of an N × C × H × W map into N × C (the layout the maps are computed in).
            static bool Spatial(NodeProto pool) => pool.OpType.StartsWith("Global", StringComparison.Ordinal)
                || (pool.Attribute.FirstOrDefault(a => a.Name == "axes")?.Ints is { Count: 2 } axes && axes[0] == 2 && axes[1] == 3
                    && pool.Attribute.FirstOrDefault(a => a.Name == "keepdims")?.I == 0);
            if (mean is null || max is null || mean.Input[0] != max.Input[0] || !Spatial(mean) || !Spatial(max)
                || concat.Attribute.FirstOrDefault(a => a.Name == "axis")?.I is not 1)
            {
                continue;
            }

            var se1Node = consumers.GetValueOrDefault(concat.Output[0])?.FirstOrDefault(n => n.OpType == "Gemm");
            var relu = se1Node is null ? null : Next(se1Node.Output[0], "Relu");
            var se2Node = relu is null ? null : Next(relu.Output[0], "Gemm");
            var sigmoid = se2Node is null ? null : Next(se2Node.Output[0], "Sigmoid");
            var multiply = sigmoid is null ? null : Next(sigmoid.Output[0], "Mul");
            var fcNode = multiply is null || !multiply.Input.Contains(concat.Output[0]) ? null : Next(multiply.Output[0], "Gemm");
            var relu2 = fcNode is null ? null : Next(fcNode.Output[0], "Relu");
            var headNode = relu2 is null ? null : Next(relu2.Output[0], "Gemm");
            if (Gemm(se1Node) is { } se1 && Gemm(se2Node) is { } se2 && Gemm(fcNode) is { } fc && Gemm(headNode) is { } head
                && se1.Inputs == se2.Outputs && se1.Outputs == se2.Inputs && fc.Inputs == se1.Inputs && head.Inputs == fc.Outputs && se1.Inputs % 2 == 0)
            {
                return new GradCam(mean.Input[0], se1, se2, fc, head, first == mean);
            }
        }

        return null;
    }

    /// <summary>The head's class scores for one feature map (C × H × W, row-major): what the model's logits are, up to its int8 rounding.</summary>
    public double[] Logits(ReadOnlySpan<float> featureMap, int height, int width) => Forward(featureMap, height, width).Logits;

    /// <summary>
    /// The map of class <paramref name="target"/>: H × W, non-negative, row-major. Grad-CAM's channel weights (the
    /// mean gradient) spread the max pool's gradient, which sits on one position per channel, over the whole map;
    /// this keeps each position's own gradient and sums gradient × activation over the channels (HiResCAM, Draelos
    /// and Carin 2020; for a head that averages only, the two are the same map).
    /// </summary>
    public float[] Map(ReadOnlySpan<float> featureMap, int height, int width, int target)
    {
        var f = Forward(featureMap, height, width);
        var g = PooledGradient(f, target);
        var area = height * width;
        var map = new double[area];
        for (var k = 0; k < Channels; k++)
        {
            var channel = featureMap.Slice(k * area, area);
            var mean = g[MeanIndex(k)] / area;
            var top = 0;
            for (var p = 0; p < area; p++)
            {
                map[p] += mean * channel[p];
                top = channel[p] > channel[top] ? p : top;
            }

            map[top] += g[MaxIndex(k)] * channel[top]; // to the first maximum (ties are rare in float maps; PyTorch would split them)
        }

        return [.. map.Select(v => (float)Math.Max(0, v))];
    }

    /// <summary>dy_target/d(pooled vector), exactly, through the SEVector and the two dense layers.</summary>
    internal double[] PooledGradient(ReadOnlySpan<float> featureMap, int height, int width, int target) => PooledGradient(Forward(featureMap, height, width), target);

    /// <summary>The head from a pooled vector (tests check the gradient against it by finite differences).</summary>
    internal double[] LogitsOfPooled(double[] pooled) => Head(pooled).Logits;

    /// <summary>The pooled vector (average and max per channel, in the graph's order) of a feature map.</summary>
    internal double[] Pool(ReadOnlySpan<float> featureMap, int height, int width)
    {
        var area = height * width;
        var pooled = new double[2 * Channels];
        for (var k = 0; k < Channels; k++)
        {
            var channel = featureMap.Slice(k * area, area);
            double sum = 0, max = double.NegativeInfinity;
            foreach (var v in channel)
            {
                sum += v;
                max = Math.Max(max, v);
            }

            pooled[MeanIndex(k)] = sum / area;
            pooled[MaxIndex(k)] = max;
        }

        return pooled;
    }

    private int MeanIndex(int k) => _meanFirst ? k : Channels + k;

    private int MaxIndex(int k) => _meanFirst ? Channels + k : k;

    private Pass Forward(ReadOnlySpan<float> featureMap, int height, int width)
    {
        if (featureMap.Length != Channels * height * width)
        {
            throw new ArgumentException($"a feature map of {featureMap.Length} values is not {Channels} × {height} × {width}", nameof(featureMap));
        }

        return Head(Pool(featureMap, height, width));
    }

    private Pass Head(double[] v)
    {
        var z1 = _se1.Apply(v);
        var r1 = z1.Select(x => Math.Max(0, x)).ToArray();
        var s = _se2.Apply(r1).Select(x => 1 / (1 + Math.Exp(-x))).ToArray();
        var u = v.Select((x, i) => x * s[i]).ToArray();
        var h = _fc.Apply(u);
        var logits = _head.Apply([.. h.Select(x => Math.Max(0, x))]);
        return new Pass(v, z1, s, h, logits);
    }

    private double[] PooledGradient(Pass f, int target)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(target);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(target, Classes);
        // y = head(relu(fc(u))), u = v ⊙ s, s = σ(se2(relu(se1(v)))).
        var gh = new double[_fc.Outputs];
        for (var j = 0; j < gh.Length; j++)
        {
            gh[j] = f.Hidden[j] > 0 ? _head.Weight(target, j) : 0;
        }

        var gu = _fc.Back(gh);
        var gz2 = gu.Select((g, i) => g * f.Pooled[i] * f.Gate[i] * (1 - f.Gate[i])).ToArray();
        var gr1 = _se2.Back(gz2);
        var gz1 = gr1.Select((g, i) => f.Squeeze[i] > 0 ? g : 0).ToArray();
        var gv = _se1.Back(gz1);
        for (var i = 0; i < gv.Length; i++)
        {
            gv[i] += f.Gate[i] * gu[i];
        }

        return gv;
    }

    /// <summary>Bilinear resize of a map to size × size (half-pixel centres, as image resizers do).</summary>
    public static float[] Upsample(ReadOnlySpan<float> map, int height, int width, int size)
    {
        var result = new float[size * size];
        for (var y = 0; y < size; y++)
        {
            var sy = Math.Clamp(((y + 0.5) * height / size) - 0.5, 0, height - 1);
            var (y0, fy) = ((int)sy, sy - (int)sy);
            var y1 = Math.Min(y0 + 1, height - 1);
            for (var x = 0; x < size; x++)
            {
                var sx = Math.Clamp(((x + 0.5) * width / size) - 0.5, 0, width - 1);
                var (x0, fx) = ((int)sx, sx - (int)sx);
                var x1 = Math.Min(x0 + 1, width - 1);
                var top = (map[(y0 * width) + x0] * (1 - fx)) + (map[(y0 * width) + x1] * fx);
                var bottom = (map[(y1 * width) + x0] * (1 - fx)) + (map[(y1 * width) + x1] * fx);
                result[(y * size) + x] = (float)((top * (1 - fy)) + (bottom * fy));
            }
        }

        return result;
    }

    private static float[] Transpose(float[] m, int rows, int columns)
    {
        var t = new float[m.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                t[(c * rows) + r] = m[(r * columns) + c];
            }
        }

        return t;
    }

    private sealed record Pass(double[] Pooled, double[] Squeeze, double[] Gate, double[] Hidden, double[] Logits);

    /// <summary>A dense layer y = W x + b, W stored outputs × inputs.</summary>
    private sealed record Dense(float[] Matrix, float[] Bias, int Inputs, int Outputs)
    {
        public double Weight(int output, int input) => Matrix[(output * Inputs) + input];

        public double[] Apply(double[] x)
        {
            var y = new double[Outputs];
            for (var o = 0; o < Outputs; o++)
            {
                double sum = Bias[o];
                var row = Matrix.AsSpan(o * Inputs, Inputs);
                for (var i = 0; i < Inputs; i++)
                {
                    sum += row[i] * x[i];
                }

                y[o] = sum;
            }

            return y;
        }

        /// <summary>Wᵀ g: the gradient with respect to the input from the gradient with respect to the output.</summary>
        public double[] Back(double[] g)
        {
            var x = new double[Inputs];
            for (var o = 0; o < Outputs; o++)
            {
                var row = Matrix.AsSpan(o * Inputs, Inputs);
                for (var i = 0; i < Inputs; i++)
                {
                    x[i] += row[i] * g[o];
                }
            }

            return x;
        }
    }
}
