using EdgeMed.Onnx.Model;
using Onnx;
using static EdgeMed.Onnx.Model.GraphBuilder;

namespace EdgeMed.Onnx.Tests;

/// <summary>Small models built in code for the tests.</summary>
internal static class TestModels
{
    /// <summary>z = x + y over float tensors of the given shape (negative dims are dynamic).</summary>
    public static ModelProto Add(params long[] shape)
    {
        var b = new GraphBuilder("add");
        var x = b.Input("x", TensorElementType.Float, shape);
        var y = b.Input("y", TensorElementType.Float, shape);
        b.NamedNode("Add", [x, y], ["z"]);
        b.Output("z", TensorElementType.Float, shape);
        return b.Build();
    }

    /// <summary>y = x · W with x [N,K] (N dynamic) and W [K,M] an initializer.</summary>
    public static ModelProto MatMul(float[] weights, int k, int m)
    {
        var b = new GraphBuilder("matmul");
        var x = b.Input("x", TensorElementType.Float, -1, k);
        var w = b.Initializer("w", weights, k, m);
        b.NamedNode("MatMul", [x, w], ["y"]);
        b.Output("y", TensorElementType.Float, -1, m);
        return b.Build();
    }

    /// <summary>2-D convolution of x [1,C,H,W] with W [O,C,kh,kw] and bias, padding 1, stride 1.</summary>
    public static ModelProto Conv(float[] weights, float[] bias, int outChannels, int inChannels, int kernel, int height, int width)
    {
        var b = new GraphBuilder("conv");
        var x = b.Input("x", TensorElementType.Float, 1, inChannels, height, width);
        var w = b.Initializer("w", weights, outChannels, inChannels, kernel, kernel);
        var bi = b.Initializer("b", bias, outChannels);
        b.NamedNode("Conv", [x, w, bi], ["y"], Attribute("pads", 1L, 1L, 1L, 1L), Attribute("kernel_shape", kernel, (long)kernel));
        b.Output("y", TensorElementType.Float, 1, outChannels, height, width);
        return b.Build();
    }

    /// <summary>Two outputs from two inputs: sum = a + b and product = a * b.</summary>
    public static ModelProto SumAndProduct(int length)
    {
        var g = new GraphBuilder("two_outputs");
        var a = g.Input("a", TensorElementType.Float, length);
        var b = g.Input("b", TensorElementType.Float, length);
        g.NamedNode("Add", [a, b], ["sum"]);
        g.NamedNode("Mul", [a, b], ["product"]);
        g.Output("sum", TensorElementType.Float, length);
        g.Output("product", TensorElementType.Float, length);
        return g.Build();
    }

    /// <summary>Element types other than float: u = Identity(uint8), s = Identity(int8), l = Add(int64, int64).</summary>
    public static ModelProto IntegerTypes(int length)
    {
        var g = new GraphBuilder("integer_types");
        var u = g.Input("u", TensorElementType.UInt8, length);
        var s = g.Input("s", TensorElementType.Int8, length);
        var l = g.Input("l", TensorElementType.Int64, length);
        g.NamedNode("Identity", [u], ["u_out"]);
        g.NamedNode("Identity", [s], ["s_out"]);
        g.NamedNode("Add", [l, l], ["l_twice"]);
        g.Output("u_out", TensorElementType.UInt8, length);
        g.Output("s_out", TensorElementType.Int8, length);
        g.Output("l_twice", TensorElementType.Int64, length);
        return g.Build();
    }

    /// <summary>
    /// A long chain of <paramref name="steps"/> MatMuls of x [size,size] with one shared weight (values stay bounded):
    /// seconds of work, checked for termination between nodes.
    /// </summary>
    public static ModelProto LongChain(int size, int steps)
    {
        var g = new GraphBuilder("long_chain");
        var x = g.Input("x", TensorElementType.Float, size, size);
        var weights = new float[size * size];
        Array.Fill(weights, 1f / size);
        var w = g.Initializer("w", weights, size, size);
        var current = x;
        for (var i = 0; i < steps; i++)
        {
            current = i == steps - 1 ? g.NamedNode("MatMul", [current, w], ["y"])[0] : g.Node("MatMul", [current, w]);
        }

        g.Output("y", TensorElementType.Float, size, size);
        return g.Build();
    }

    /// <summary>y = x · W with W [rows, cols] of about <paramref name="megabytes"/> MB of weights.</summary>
    public static ModelProto Large(int megabytes)
    {
        const int Cols = 1024;
        var rows = megabytes * 1024 * 1024 / (Cols * sizeof(float));
        var weights = new float[rows * Cols];
        var random = new Random(1);
        for (var i = 0; i < weights.Length; i++)
        {
            weights[i] = (float)random.NextDouble();
        }

        var g = new GraphBuilder("large");
        var x = g.Input("x", TensorElementType.Float, 1, rows);
        var w = g.Initializer("w", weights, rows, Cols);
        g.NamedNode("MatMul", [x, w], ["y"]);
        g.Output("y", TensorElementType.Float, 1, Cols);
        return g.Build();
    }

    /// <summary>Serialized bytes of a model.</summary>
    public static byte[] Bytes(this ModelProto model) => Google.Protobuf.MessageExtensions.ToByteArray(model);
}

/// <summary>A temporary folder a test owns and deletes.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "edgemed-tests-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder is not a test failure.
        }
    }
}
