using EdgeMed.Onnx.Runtime;

namespace EdgeMed.Onnx.Tests;

public sealed class RunTests
{
    [Fact]
    public void Add_ReturnsElementwiseSum()
    {
        using var session = OnnxSession.FromBytes(TestModels.Add(2, 3).Bytes());
        float[] x = [1, 2, 3, 4, 5, 6];
        float[] y = [0.5f, -2, 10, 0, -4.25f, 1e6f];
        using var tx = OnnxTensor.Create(x, 2, 3);
        using var ty = OnnxTensor.Create(y, 2, 3);

        using var outputs = session.Run([new("x", tx), new("y", ty)]);

        Assert.Equal(["z"], outputs.Names);
        Assert.Equal([2L, 3L], outputs.GetShape("z"));
        Assert.Equal(x.Zip(y, (a, b) => a + b).ToArray(), outputs.GetSpan<float>("z").ToArray());
    }

    [Fact]
    public void Session_ReportsInputAndOutputMetadata()
    {
        using var session = OnnxSession.FromBytes(TestModels.MatMul(new float[12], 3, 4).Bytes());

        var input = Assert.Single(session.Inputs);
        Assert.Equal("x", input.Name);
        Assert.Equal(TensorElementType.Float, input.ElementType);
        Assert.Equal([-1L, 3L], input.Shape);
        Assert.Equal("x_d0", input.SymbolicDimensions[0]);
        var output = Assert.Single(session.Outputs);
        Assert.Equal("y", output.Name);
        Assert.Equal([-1L, 4L], output.Shape);
    }

    [Fact]
    public void MatMul_WithDynamicBatch_MatchesProductComputedHere()
    {
        const int N = 5, K = 3, M = 4;
        var random = new Random(7);
        var w = Enumerable.Range(0, K * M).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var x = Enumerable.Range(0, N * K).Select(_ => (float)random.NextDouble() * 4 - 2).ToArray();
        using var session = OnnxSession.FromBytes(TestModels.MatMul(w, K, M).Bytes());
        using var tx = OnnxTensor.Create(x, N, K);

        using var outputs = session.Run([new("x", tx)]);

        var y = outputs.GetSpan<float>(0);
        Assert.Equal([(long)N, M], outputs.GetShape(0));
        for (var n = 0; n < N; n++)
        {
            for (var m = 0; m < M; m++)
            {
                var expected = 0.0;
                for (var k = 0; k < K; k++)
                {
                    expected += x[(n * K) + k] * w[(k * M) + m];
                }

                Assert.Equal(expected, y[(n * M) + m], 5);
            }
        }
    }

    [Fact]
    public void Conv_WithBiasAndPadding_MatchesDirectConvolutionComputedHere()
    {
        const int C = 2, O = 3, Kk = 3, H = 5, W = 4;
        var random = new Random(11);
        var weights = Enumerable.Range(0, O * C * Kk * Kk).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        float[] bias = [0.25f, -1f, 3f];
        var x = Enumerable.Range(0, C * H * W).Select(_ => (float)random.NextDouble()).ToArray();
        using var session = OnnxSession.FromBytes(TestModels.Conv(weights, bias, O, C, Kk, H, W).Bytes());
        using var tx = OnnxTensor.Create(x, 1, C, H, W);

        using var outputs = session.Run([new("x", tx)]);

        var y = outputs.GetSpan<float>("y");
        for (var o = 0; o < O; o++)
        {
            for (var i = 0; i < H; i++)
            {
                for (var j = 0; j < W; j++)
                {
                    double sum = bias[o];
                    for (var c = 0; c < C; c++)
                    {
                        for (var ki = 0; ki < Kk; ki++)
                        {
                            for (var kj = 0; kj < Kk; kj++)
                            {
                                int si = i + ki - 1, sj = j + kj - 1; // padding 1
                                if (si >= 0 && si < H && sj >= 0 && sj < W)
                                {
                                    sum += weights[(((o * C) + c) * Kk * Kk) + (ki * Kk) + kj] * x[(c * H * W) + (si * W) + sj];
                                }
                            }
                        }
                    }

                    Assert.Equal(sum, y[(o * H * W) + (i * W) + j], 5);
                }
            }
        }
    }

    [Fact]
    public void TwoOutputs_AllOrSelectedInOrderAsked()
    {
        using var session = OnnxSession.FromBytes(TestModels.SumAndProduct(3).Bytes());
        using var a = OnnxTensor.Create(new float[] { 1, 2, 3 }, 3);
        using var b = OnnxTensor.Create(new float[] { 4, 5, -6 }, 3);

        using (var all = session.Run([new("a", a), new("b", b)]))
        {
            Assert.Equal(["sum", "product"], all.Names);
            Assert.Equal([5f, 7f, -3f], all.GetSpan<float>("sum").ToArray());
            Assert.Equal([4f, 10f, -18f], all.GetSpan<float>("product").ToArray());
        }

        using var selected = session.Run([new("b", b), new("a", a)], ["product"]);
        Assert.Equal(["product"], selected.Names);
        Assert.Equal([4f, 10f, -18f], selected.GetSpan<float>(0).ToArray());
    }

    [Fact]
    public void IntegerTensors_Uint8Int8Int64_RoundTrip()
    {
        using var session = OnnxSession.FromBytes(TestModels.IntegerTypes(4).Bytes());
        byte[] u = [0, 1, 200, 255];
        sbyte[] s = [-128, -1, 0, 127];
        long[] l = [long.MinValue / 4, -3, 0, 1L << 40];
        using var tu = OnnxTensor.Create(u, 4);
        using var ts = OnnxTensor.Create(s, 4);
        using var tl = OnnxTensor.Create(l, 4);

        using var outputs = session.Run([new("u", tu), new("s", ts), new("l", tl)]);

        Assert.Equal(u, outputs.GetSpan<byte>("u_out").ToArray());
        Assert.Equal(s, outputs.GetSpan<sbyte>("s_out").ToArray());
        Assert.Equal(l.Select(v => v * 2).ToArray(), outputs.GetSpan<long>("l_twice").ToArray());
        Assert.Equal(TensorElementType.Int8, outputs.GetElementType(1));
    }

    [Fact]
    public void Inputs_AreReadInPlace_SoWritingTheBufferChangesTheNextRun()
    {
        using var session = OnnxSession.FromBytes(TestModels.Add(3).Bytes());
        var x = new float[] { 1, 2, 3 };
        using var tx = OnnxTensor.Create(x, 3);
        using var ty = OnnxTensor.Create(new float[] { 10, 10, 10 }, 3);

        using (var first = session.Run([new("x", tx), new("y", ty)]))
        {
            Assert.Equal([11f, 12f, 13f], first.GetSpan<float>(0).ToArray());
        }

        x[0] = 100; // no copy was taken: the tensor sees the array
        tx.AsSpan<float>()[1] = 200;
        using var second = session.Run([new("x", tx), new("y", ty)]);
        Assert.Equal([110f, 210f, 13f], second.GetSpan<float>(0).ToArray());
    }

    [Fact]
    public void PreallocatedOutput_IsWrittenInPlace()
    {
        using var session = OnnxSession.FromBytes(TestModels.Add(4).Bytes());
        using var tx = OnnxTensor.Create(new float[] { 1, 2, 3, 4 }, 4);
        using var ty = OnnxTensor.Create(new float[] { 1, 1, 1, 1 }, 4);
        var z = new float[4];
        using var tz = OnnxTensor.Create(z, 4);

        session.Run([new("x", tx), new("y", ty)], [new NamedTensor("z", tz)]);

        Assert.Equal([2f, 3f, 4f, 5f], z);
    }

    [Fact]
    public void SessionFromFile_MatchesSessionFromBytes()
    {
        using var folder = new TempFolder();
        var path = folder.File("add.onnx");
        Model.OnnxModelFile.Save(TestModels.Add(2), path);
        using var session = OnnxSession.Open(path, new OnnxSessionOptions { IntraOpThreads = 1, Optimization = GraphOptimization.Basic, ExecutionMode = ExecutionMode.Parallel, InterOpThreads = 1 });
        using var tx = OnnxTensor.Create(new float[] { 1, 2 }, 2);
        using var ty = OnnxTensor.Create(new float[] { 3, 4 }, 2);

        using var outputs = session.Run([new("x", tx), new("y", ty)]);

        Assert.Equal([4f, 6f], outputs.GetSpan<float>(0).ToArray());
    }

    [Fact]
    public void Environment_ReportsPinnedVersionAndCpuProvider()
    {
        Assert.Equal("1.31.1", OrtEnvironment.Version);
        Assert.Contains("CPUExecutionProvider", OrtEnvironment.AvailableProviders);
        Assert.EndsWith("libonnxruntime.so", OrtEnvironment.LibraryPath);
    }
}
