using System.Diagnostics;
using EdgeMed.Onnx;
using EdgeMed.Onnx.Model;
using EdgeMed.Onnx.Runtime;
using EdgeMed.Quantization.Calibration;
using Google.Protobuf;
using Onnx;

namespace EdgeMed.Quantization.Tests;

public sealed class RewriteTests
{
    private static float Q(float value, float scale) => Math.Clamp(MathF.Round(value / scale, MidpointRounding.ToEven), -127, 127) * scale;

    private static (ModelProto Int8, IReadOnlyDictionary<string, float> Thresholds) Quantize(ModelProto model, float[][] samples, long[] shape, QuantizationSelection? selection = null)
    {
        var (plan, _) = QuantizationPlan.Create(model, selection);
        var tensors = plan.SelectMany(p => new[] { p.Activation, p.Output }).Distinct().ToList();
        var source = new CalibrationSource(samples.Length, shape, (i, span) => samples[i].CopyTo(span));
        var stats = CalibrationRunner.Collect(model, tensors, source, CalibrationMethod.MinMax, 1, CancellationToken.None);
        var thresholds = stats.ToDictionary(s => s.Key, s => s.Value.Threshold(CalibrationMethod.MinMax));
        return (QdqRewriter.Rewrite(model, plan, thresholds), thresholds);
    }

    private static float[] Run(ModelProto model, float[] x, long[] shape)
    {
        using var session = OnnxSession.FromBytes(model.ToByteArray(), new OnnxSessionOptions { IntraOpThreads = 1 });
        using var input = OnnxTensor.Create(x, shape);
        using var outputs = session.Run([new NamedTensor(session.Inputs[0].Name, input)]);
        return outputs.GetSpan<float>(0).ToArray();
    }

    /// <summary>
    /// What an int8 square-kernel convolution (stride 1, "same" padding, <paramref name="groups"/> groups) computes at one
    /// output element before its output is quantized: quantized inputs times weights quantized per output channel, plus
    /// the bias quantized to int32 at scale input × weight.
    /// </summary>
    private static double QuantizedConvSum(float[] x, float[] weights, float[] bias, (int C, int H, int W) input, int groups, float sx, (int O, int I, int J) at)
    {
        var perGroup = input.C / groups;
        var outputs = bias.Length;
        var k = (int)Math.Sqrt(weights.Length / outputs / perGroup);
        var filter = perGroup * k * k;
        var sw = Enumerable.Range(0, filter).Max(n => Math.Abs(weights[(at.O * filter) + n])) / 127; // per output channel
        double sum = MathF.Round(bias[at.O] / (sx * sw)) * sx * sw;
        var first = at.O / (outputs / groups) * perGroup; // the group's first input channel
        for (var c = 0; c < perGroup; c++)
        {
            for (var ki = 0; ki < k; ki++)
            {
                for (var kj = 0; kj < k; kj++)
                {
                    int si = at.I + ki - (k / 2), sj = at.J + kj - (k / 2);
                    if (si >= 0 && si < input.H && sj >= 0 && sj < input.W)
                    {
                        sum += Q(weights[(at.O * filter) + (((c * k) + ki) * k) + kj], sw) * Q(x[((first + c) * input.H * input.W) + (si * input.W) + sj], sx);
                    }
                }
            }
        }

        return sum;
    }

    [Fact]
    public void MatMul_Int8Output_EqualsTheProductOfDequantizedInputsComputedHere()
    {
        const int K = 16, N = 5;
        var random = new Random(1);
        var w = Enumerable.Range(0, K * N).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var b = new GraphBuilder("mm");
        var x = b.Input("x", TensorElementType.Float, 1, K);
        b.NamedNode("MatMul", [x, b.Initializer("w", w, K, N)], ["y"]);
        b.Output("y", TensorElementType.Float, 1, N);
        var samples = Enumerable.Range(0, 8).Select(_ => Enumerable.Range(0, K).Select(_ => (float)((random.NextDouble() * 4) - 2)).ToArray()).ToArray();

        var (int8, thresholds) = Quantize(b.Build(), samples, [1, K]);
        var y = Run(int8, samples[3], [1, K]);

        var sx = thresholds["x"] / 127;
        for (var n = 0; n < N; n++)
        {
            var sw = Enumerable.Range(0, K).Max(k => Math.Abs(w[(k * N) + n])) / 127; // per output column
            var expected = Enumerable.Range(0, K).Sum(k => (double)Q(samples[3][k], sx) * Q(w[(k * N) + n], sw));
            Assert.Equal(expected, y[n], 4);
        }

        Assert.Contains(int8.Graph.Initializer, t => t.Name == "w_quantized" && t.DataType == (int)TensorElementType.Int8);
        Assert.DoesNotContain(int8.Graph.Initializer, t => t.Name == "w"); // the float weight is gone
    }

    [Fact]
    public void ConvWithBias_Int8Output_MatchesTheDequantizedComputationHere()
    {
        const int C = 2, O = 3, H = 5, W = 5;
        var random = new Random(2);
        var weights = Enumerable.Range(0, O * C * 9).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        float[] bias = [0.3f, -0.7f, 1.1f];
        var b = new GraphBuilder("conv");
        var x = b.Input("x", TensorElementType.Float, 1, C, H, W);
        var conv = b.Node("Conv", [x, b.Initializer("w", weights, O, C, 3, 3), b.Initializer("b", bias, O)], GraphBuilder.Attribute("pads", 1L, 1L, 1L, 1L));
        b.NamedNode("Relu", [conv], ["y"]);
        b.Output("y", TensorElementType.Float, 1, O, H, W);
        var samples = Enumerable.Range(0, 6).Select(_ => Enumerable.Range(0, C * H * W).Select(_ => (float)random.NextDouble()).ToArray()).ToArray();

        var (int8, thresholds) = Quantize(b.Build(), samples, [1, C, H, W]);
        var y = Run(int8, samples[0], [1, C, H, W]);

        var sx = thresholds["x"] / 127;
        var convOutput = int8.Graph.Node.Single(n => n.OpType == "Conv").Output[0].Replace("_float", string.Empty, StringComparison.Ordinal);
        var so = thresholds[convOutput] / 127;
        for (var o = 0; o < O; o++)
        {
            for (var i = 0; i < H; i++)
            {
                for (var j = 0; j < W; j++)
                {
                    var sum = QuantizedConvSum(samples[0], weights, bias, (C, H, W), groups: 1, sx, (o, i, j));
                    var expected = Math.Max(0, Q((float)sum, so)); // the conv output is quantized, then Relu
                    Assert.Equal(expected, y[(o * H * W) + (i * W) + j], 4);
                }
            }
        }
    }

    [Fact]
    public void DepthwiseConv_WhenIncluded_Int8OutputMatchesTheDequantizedComputationHere()
    {
        // ConvNeXt's 7x7 depthwise convolution in miniature: one filter per channel, weights scaled per channel.
        const int C = 3, H = 6, W = 6, K = 3;
        var random = new Random(4);
        var weights = Enumerable.Range(0, C * K * K).Select(i => (float)(random.NextDouble() - 0.5) * (1 + (i / (K * K)))).ToArray();
        float[] bias = [0.2f, -0.4f, 0.9f];
        var b = new GraphBuilder("depthwise");
        var x = b.Input("x", TensorElementType.Float, 1, C, H, W);
        b.NamedNode("Conv", [x, b.Initializer("w", weights, C, 1, K, K), b.Initializer("b", bias, C)], ["d"], GraphBuilder.Attribute("group", (long)C), GraphBuilder.Attribute("pads", 1L, 1L, 1L, 1L));
        b.NamedNode("Relu", ["d"], ["y"]); // a consumer, so the output is requantized and ONNX Runtime fuses QLinearConv
        b.Output("y", TensorElementType.Float, 1, C, H, W);
        var samples = Enumerable.Range(0, 5).Select(_ => Enumerable.Range(0, C * H * W).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray()).ToArray();

        var (int8, thresholds) = Quantize(b.Build(), samples, [1, C, H, W], new QuantizationSelection { IncludeDepthwise = true });
        var y = Run(int8, samples[2], [1, C, H, W]);

        var sx = thresholds["x"] / 127;
        var so = thresholds["d"] / 127;
        for (var c = 0; c < C; c++)
        {
            for (var i = 0; i < H; i++)
            {
                for (var j = 0; j < W; j++)
                {
                    var sum = QuantizedConvSum(samples[2], weights, bias, (C, H, W), groups: C, sx, (c, i, j));
                    Assert.Equal(Math.Max(0, Q((float)sum, so)), y[(c * H * W) + (i * W) + j], 4);
                }
            }
        }

        Assert.Contains(int8.Graph.Initializer, t => t.Name == "w_quantized" && t.DataType == (int)TensorElementType.Int8);
        Assert.Contains("QLinearConv", OptimizedOpTypes(int8));
    }

    [Fact]
    public void FloatMatMulOutputs_SkipTheRequantization_AndOnnxRuntimeFusesMatMulIntegerToFloat()
    {
        // A pointwise MLP's first product feeding a float activation, as in every ConvNeXt block.
        const int K = 12, N = 6;
        var random = new Random(6);
        var w = Enumerable.Range(0, K * N).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var b = new GraphBuilder("mlp");
        var x = b.Input("x", TensorElementType.Float, 1, K);
        b.NamedNode("MatMul", [x, b.Initializer("w", w, K, N)], ["h"]);
        b.NamedNode("Relu", ["h"], ["y"]);
        b.Output("y", TensorElementType.Float, 1, N);
        var model = b.Build();
        var sample = Enumerable.Range(0, K).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        var (plan, _) = QuantizationPlan.Create(model);
        var thresholds = new Dictionary<string, float> { ["x"] = sample.Max(MathF.Abs), ["h"] = 0.7f };

        var requantized = QdqRewriter.Rewrite(model, plan, thresholds, new Dictionary<string, bool>(), new QdqFormat());
        var floatOutputs = QdqRewriter.Rewrite(model, plan, thresholds, new Dictionary<string, bool>(), new QdqFormat { FloatMatMulOutputs = true });

        Assert.Contains(requantized.Graph.Node, n => n.OpType == "QuantizeLinear" && n.Input[0] == "h_float");
        Assert.DoesNotContain(floatOutputs.Graph.Node, n => n.OpType == "QuantizeLinear" && n.Input[0].StartsWith('h'));
        var y = Run(floatOutputs, sample, [1, K]);
        var sx = thresholds["x"] / 127;
        for (var n = 0; n < N; n++)
        {
            var sw = Enumerable.Range(0, K).Max(k => Math.Abs(w[(k * N) + n])) / 127;
            var product = Enumerable.Range(0, K).Sum(k => (double)Q(sample[k], sx) * Q(w[(k * N) + n], sw));
            Assert.Equal(Math.Max(0, product), y[n], 4); // the product itself, not rounded to h's 0.7/127 grid
        }

        Assert.Equal("MatMulIntegerToFloat", Assert.Single(OptimizedOpTypes(floatOutputs), t => t.StartsWith("MatMul", StringComparison.Ordinal)));
        Assert.Equal("QLinearMatMul", Assert.Single(OptimizedOpTypes(requantized), t => t.Contains("MatMul", StringComparison.Ordinal)));
    }

    /// <summary>The operator types of the graph ONNX Runtime runs after its optimizations (which fusions fired).</summary>
    private static List<string> OptimizedOpTypes(ModelProto model)
    {
        var folder = Directory.CreateTempSubdirectory("edgemed-optimized-").FullName;
        var path = Path.Combine(folder, "optimized.onnx");
        try
        {
            using (OnnxSession.FromBytes(model.ToByteArray(), new OnnxSessionOptions { IntraOpThreads = 1, OptimizedModelPath = path }))
            {
            }

            return ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Node.Select(n => n.OpType).ToList();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void U8S8WithReducedRange_UsesUint8ActivationsAnd7BitWeights_AndComputesWhatWeSimulate()
    {
        const int K = 8, N = 3;
        var random = new Random(5);
        var w = Enumerable.Range(0, K * N).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var b = new GraphBuilder("u8");
        var x = b.Input("x", TensorElementType.Float, 1, K);
        b.NamedNode("MatMul", [x, b.Initializer("w", w, K, N)], ["y"]);
        b.Output("y", TensorElementType.Float, 1, N);
        var model = b.Build();
        var sample = Enumerable.Range(0, K).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        var (plan, _) = QuantizationPlan.Create(model);
        var threshold = sample.Max(MathF.Abs);

        var int8 = QdqRewriter.Rewrite(model, plan, new Dictionary<string, float> { ["x"] = threshold }, new Dictionary<string, bool> { ["x"] = true }, new QdqFormat { UnsignedActivations = true, ReduceRange = true });
        var y = Run(int8, sample, [1, K]);

        var zeroPoint = int8.Graph.Initializer.Single(t => t.Name == "x_zero_point");
        Assert.Equal((int)TensorElementType.UInt8, zeroPoint.DataType);
        Assert.Equal(128, zeroPoint.RawData[0]);
        var weights = int8.Graph.Initializer.Single(t => t.Name == "w_quantized").RawData.Select(v => (sbyte)v).ToArray();
        Assert.Equal(63, weights.Max(v => Math.Abs((int)v)));
        var sx = 2 * threshold / 255;
        for (var n = 0; n < N; n++)
        {
            var sw = Enumerable.Range(0, K).Max(k => Math.Abs(w[(k * N) + n])) / 63;
            var expected = Enumerable.Range(0, K).Sum(k => (double)((Math.Clamp(MathF.Round(sample[k] / sx) + 128, 0, 255) - 128) * sx) * (Math.Clamp(MathF.Round(w[(k * N) + n] / sw), -63, 63) * sw));
            Assert.Equal(expected, y[n], 4);
        }
    }

    [Fact]
    public void PerChannelWeightScales_FollowEachOutputChannelsLargestMagnitude()
    {
        var weight = GraphBuilder.Tensor<float>("w", [1f, -2f, 0.5f, 100f, -50f, 25f], 2, 3); // Conv-like [O=2, 3]

        var (values, scales) = QdqRewriter.QuantizePerChannel(weight, axis: 0);

        Assert.Equal([2f / 127, 100f / 127], scales);
        Assert.Equal(new sbyte[] { 64, -127, 32, 127, -64, 32 }, values);
    }

    [Fact]
    public void DynamicFormat_MatMulOutput_EqualsTheProductOfRunTimeQuantizedInputsComputedHere_AndGemmStaysFloat()
    {
        const int K = 16, N = 5;
        var random = new Random(2);
        var w = Enumerable.Range(0, K * N).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var b = new GraphBuilder("dyn");
        var x = b.Input("x", TensorElementType.Float, 1, 3, K); // channels-last activations, as ConvNeXt's pointwise MatMuls see them
        b.NamedNode("MatMul", [x, b.Initializer("w", w, K, N)], ["h"]);
        b.NamedNode("Relu", ["h"], ["y"]);
        b.Output("y", TensorElementType.Float, 1, 3, N);
        var model = b.Build();
        var (plan, _) = QuantizationPlan.Create(model);
        var input = Enumerable.Range(0, 3 * K).Select(_ => (float)((random.NextDouble() * 3) - 1)).ToArray();

        var dynamic = DynamicRewriter.Rewrite(model, DynamicRewriter.Eligible(model, plan));
        var y = Run(dynamic, input, [1, 3, K]);

        // ONNX Runtime's run-time encoding: uint8 over [min(0, x), max(0, x)] of the whole input, zero point rounded.
        var (low, high) = (Math.Min(0, input.Min()), Math.Max(0, input.Max()));
        var scale = (high - low) / 255;
        var zero = Math.Clamp(MathF.Round(-low / scale, MidpointRounding.ToEven), 0, 255);
        float Qa(float v) => (Math.Clamp(MathF.Round(v / scale, MidpointRounding.ToEven) + zero, 0, 255) - zero) * scale;
        for (var row = 0; row < 3; row++)
        {
            for (var n = 0; n < N; n++)
            {
                var sw = Enumerable.Range(0, K).Max(k => Math.Abs(w[(k * N) + n])) / 127;
                var expected = Enumerable.Range(0, K).Sum(k => (double)Qa(input[(row * K) + k]) * Q(w[(k * N) + n], sw));
                Assert.Equal(Math.Max(0, expected), y[(row * N) + n], 4);
            }
        }

        Assert.Equal(["DynamicQuantizeMatMul", "Relu"], dynamic.Graph.Node.Select(n => n.OpType));
        Assert.DoesNotContain(dynamic.Graph.Initializer, t => t.Name == "w");
        Assert.Contains(dynamic.OpsetImport, o => o.Domain == DynamicRewriter.Domain);

        // A Gemm (the head's linear layers) is not taken by this format.
        var g = new GraphBuilder("gemm");
        g.NamedNode("Gemm", [g.Input("x", TensorElementType.Float, 1, K), g.Initializer("w", w, K, N)], ["y"]);
        g.Output("y", TensorElementType.Float, 1, N);
        var gemm = g.Build();
        Assert.Empty(DynamicRewriter.Eligible(gemm, QuantizationPlan.Create(gemm).Quantized));
    }

    [Fact]
    public void QuantizedModel_PassesOnnxChecker()
    {
        var b = new GraphBuilder("checked", opset: 17);
        var x = b.Input("x", TensorElementType.Float, 1, 4);
        var h = b.Node("MatMul", [x, b.Initializer("w1", new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }, 4, 4)]);
        b.NamedNode("MatMul", [b.Node("Relu", [h]), b.Initializer("w2", new float[] { 1, -1, 2, -2, 3, -3, 4, -4 }, 4, 2)], ["y"]);
        b.Output("y", TensorElementType.Float, 1, 2);
        var (int8, _) = Quantize(b.Build(), [[0.1f, 0.2f, -0.3f, 0.4f], [1, 1, 1, 1]], [1, 4]);
        var path = Path.Combine(Path.GetTempPath(), $"edgemed-q-{Guid.NewGuid():N}.onnx");
        OnnxModelFile.Save(int8, path);
        try
        {
            var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)");
            start.ArgumentList.Add(path);
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, error);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
