using EdgeMed.Onnx;
using EdgeMed.Onnx.Model;

namespace EdgeMed.Quantization.Tests;

public sealed class PlanTests
{
    [Fact]
    public void DefaultPlan_QuantizesMatMulAndDenseConv_KeepsDepthwiseGatesAndNormsFloat()
    {
        var b = new GraphBuilder("mixed");
        var x = b.Input("x", TensorElementType.Float, 1, 4, 8, 8);
        var dense = b.Node("Conv", [x, b.Initializer("w_dense", new float[8 * 4 * 9], 8, 4, 3, 3), b.Initializer("b_dense", new float[8], 8)], GraphBuilder.Attribute("pads", 1L, 1L, 1L, 1L));
        var depthwise = b.Node("Conv", [dense, b.Initializer("w_dw", new float[8 * 9], 8, 1, 3, 3)], GraphBuilder.Attribute("group", 8L), GraphBuilder.Attribute("pads", 1L, 1L, 1L, 1L));
        var pooled = b.Node("GlobalAveragePool", [depthwise]);
        var flat = b.Node("Flatten", [pooled]);
        var gate1 = b.Node("Gemm", [flat, b.Initializer("w_g1", new float[8 * 8], 8, 8)], GraphBuilder.Attribute("transB", 1L));
        var gate2 = b.Node("Gemm", [b.Node("Relu", [gate1]), b.Initializer("w_g2", new float[8 * 8], 8, 8)], GraphBuilder.Attribute("transB", 1L));
        var gated = b.Node("Mul", [flat, b.Node("Sigmoid", [gate2])]);
        var normed = b.Node("LayerNormalization", [gated, b.Initializer("ln_s", new float[8], 8), b.Initializer("ln_b", new float[8], 8)]);
        b.NamedNode("MatMul", [normed, b.Initializer("w_head", new float[8 * 3], 8, 3)], ["logits"]);
        b.Output("logits", TensorElementType.Float, 1, 3);

        var (quantized, kept) = QuantizationPlan.Create(b.Build());

        Assert.Equal(["Conv", "MatMul"], quantized.Select(q => q.OpType));
        Assert.Equal(("w_dense", 0, "b_dense"), (quantized[0].Weight, quantized[0].WeightAxis, quantized[0].Bias));
        Assert.Equal(("w_head", 1), (quantized[1].Weight, quantized[1].WeightAxis));
        Assert.Contains(kept, k => k.OpType == "Conv" && k.Reason.Contains("depthwise", StringComparison.Ordinal));
        Assert.Equal(2, kept.Count(k => k.OpType == "Gemm" && k.Reason.Contains("sigmoid gate", StringComparison.Ordinal)));
    }

    [Fact]
    public void Overrides_ExcludeNodesAndIncludeGates()
    {
        var b = new GraphBuilder("gate");
        var x = b.Input("x", TensorElementType.Float, 1, 4);
        var g = b.Node("Gemm", [x, b.Initializer("w", new float[16], 4, 4)]);
        var head = b.Node("MatMul", [b.Node("Sigmoid", [g]), b.Initializer("w2", new float[8], 4, 2)]);
        b.Output(head, TensorElementType.Float, 1, 2);
        var model = b.Build();

        var (withGates, _) = QuantizationPlan.Create(model, new QuantizationSelection { IncludeGates = true, ExcludeNodes = new HashSet<string> { "MatMul_2" } });

        var only = Assert.Single(withGates);
        Assert.Equal("Gemm", only.OpType);
        Assert.Equal(1, only.WeightAxis); // transB = 0: weight is [K, N]
    }

    [Fact]
    public void IncludeDepthwise_QuantizesTheDepthwiseConvPerOutputChannel()
    {
        var b = new GraphBuilder("dw");
        var x = b.Input("x", TensorElementType.Float, 1, 8, 8, 8);
        var depthwise = b.Node("Conv", [x, b.Initializer("w_dw", new float[8 * 49], 8, 1, 7, 7)], GraphBuilder.Attribute("group", 8L), GraphBuilder.Attribute("pads", 3L, 3L, 3L, 3L));
        b.Output(depthwise, TensorElementType.Float, 1, 8, 8, 8);
        var model = b.Build();

        var (byDefault, kept) = QuantizationPlan.Create(model);
        var (included, _) = QuantizationPlan.Create(model, new QuantizationSelection { IncludeDepthwise = true });

        Assert.Empty(byDefault);
        Assert.Single(kept);
        var only = Assert.Single(included);
        Assert.Equal(("w_dw", 0), (only.Weight, only.WeightAxis));
    }
}
