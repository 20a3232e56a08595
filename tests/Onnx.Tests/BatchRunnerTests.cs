using EdgeMed.Onnx.Model;
using EdgeMed.Onnx.Runtime;

namespace EdgeMed.Onnx.Tests;

/// <summary>The one inference loop agent, trainer and quantizer share.</summary>
public sealed class BatchRunnerTests
{
    /// <summary>y = x · 2 and z = x + x summed over C, H, W, per sample: batch dimension dynamic.</summary>
    private static byte[] DoubleAndSum()
    {
        var b = new GraphBuilder("double_and_sum");
        var x = b.Input("pixels", TensorElementType.Float, -1, 2, 3, 3);
        var two = b.Initializer("two", new float[] { 2 }, 1);
        b.NamedNode("Mul", [x, two], ["doubled"]);
        var axes = b.Initializer("axes", new long[] { 1, 2, 3 }, 3);
        b.NamedNode("ReduceSum", ["doubled", axes], ["sums"], GraphBuilder.Attribute("keepdims", 0L));
        b.Output("doubled", TensorElementType.Float, -1, 2, 3, 3);
        b.Output("sums", TensorElementType.Float, -1);
        return b.Build().Bytes();
    }

    [Fact]
    public void RunAll_FillsEachSampleOnce_AndHandsBackEveryBatchInOrder()
    {
        using var runner = new BatchRunner(OnnxSession.FromBytes(DoubleAndSum()), [2, 3, 3], batchSize: 4, ["sums", "doubled"]);
        var filled = new List<int>();
        var sums = new float[10];
        var batches = new List<(int Start, int Count)>();

        runner.RunAll(10, (i, slot) => { filled.Add(i); slot.Fill(i); }, (start, count, outputs) =>
        {
            batches.Add((start, count));
            Assert.Equal(["sums", "doubled"], outputs.Names);
            outputs.GetSpan<float>(0).CopyTo(sums.AsSpan(start, count));
        }, CancellationToken.None);

        Assert.Equal(Enumerable.Range(0, 10), filled);
        Assert.Equal([(0, 4), (4, 4), (8, 2)], batches);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i * 18f * 2), sums); // 18 pixels of value i, doubled
    }

    [Fact]
    public void Run_FetchesOnlyTheOutputsAskedFor_AndRefusesMoreSamplesThanTheBuffer()
    {
        using var runner = new BatchRunner(OnnxSession.FromBytes(DoubleAndSum()), [2, 3, 3], batchSize: 2, ["sums"]);
        runner.Sample(0).Fill(1);
        runner.Sample(1).Fill(3);

        using (var outputs = runner.Run(2, CancellationToken.None))
        {
            Assert.Equal(["sums"], outputs.Names);
            Assert.Equal([36f, 108f], outputs.GetSpan<float>(0).ToArray());
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => runner.Run(3, CancellationToken.None));
        Assert.Throws<ArgumentOutOfRangeException>(() => runner.Sample(2));
    }

    [Fact]
    public void OutputNamesThePackageGivesButTheModelLacks_AreRefusedAtOnce()
    {
        using var session = OnnxSession.FromBytes(DoubleAndSum());

        var error = Assert.Throws<OnnxInputException>(() => new BatchRunner(session, [2, 3, 3], 1, ["logits", "features"], ownsSession: false));

        Assert.Contains("doubled, sums", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Softmax_IsStable_AndSumsToOne()
    {
        var p = new double[3];

        BatchRunner.Softmax([1000f, 1000f, 1000f - (float)Math.Log(2)], p);

        Assert.Equal([0.4, 0.4, 0.2], p.Select(v => Math.Round(v, 4))); // 1000 - ln 2 is not exact in float
        Assert.Equal(1.0, p.Sum(), 12);
    }
}
