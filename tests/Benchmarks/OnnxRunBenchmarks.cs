using BenchmarkDotNet.Attributes;
using EdgeMed.Onnx;
using EdgeMed.Onnx.Model;
using EdgeMed.Onnx.Runtime;
using Google.Protobuf;

namespace EdgeMed.Benchmarks;

/// <summary>
/// Per-call cost of <see cref="OnnxSession.Run(ReadOnlySpan{NamedTensor}, CancellationToken)"/> on a one-element Add,
/// against the bare C API call with the same handles (the baseline): the difference is what the binding adds.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 5, iterationCount: 30)]
public unsafe class OnnxRunBenchmarks
{
    // A token that can be cancelled (never is): the binding then creates per-run options and registers a callback.
    private static readonly CancellationTokenSource Cancellable = new();
    private readonly float[] _x = [1];
    private readonly float[] _y = [2];
    private readonly float[] _z = [0];
    private OnnxSession _session = null!;
    private OnnxTensor _tx = null!;
    private OnnxTensor _ty = null!;
    private OnnxTensor _tz = null!;
    private NamedTensor[] _inputs = null!;
    private NamedTensor[] _outputs = null!;
    private nint _rawSession;
    private nint* _inNames;
    private nint* _inValues;
    private nint* _outNames;
    private nint* _outValues;

    [GlobalSetup]
    public void Setup()
    {
        var b = new GraphBuilder("add");
        var x = b.Input("x", TensorElementType.Float, 1);
        var y = b.Input("y", TensorElementType.Float, 1);
        b.NamedNode("Add", [x, y], ["z"]);
        b.Output("z", TensorElementType.Float, 1);
        _session = OnnxSession.FromBytes(b.Build().ToByteArray(), new OnnxSessionOptions { IntraOpThreads = 1 });
        _tx = OnnxTensor.Create(_x, 1);
        _ty = OnnxTensor.Create(_y, 1);
        _tz = OnnxTensor.Create(_z, 1);
        _inputs = [new("x", _tx), new("y", _ty)];
        _outputs = [new("z", _tz)];

        // The baseline gets everything prepared once, as the most frugal caller of the C API would.
        _rawSession = RawHandles.Session(_session);
        _inNames = (nint*)System.Runtime.InteropServices.NativeMemory.Alloc(2, (nuint)sizeof(nint));
        _inValues = (nint*)System.Runtime.InteropServices.NativeMemory.Alloc(2, (nuint)sizeof(nint));
        _outNames = (nint*)System.Runtime.InteropServices.NativeMemory.Alloc(1, (nuint)sizeof(nint));
        _outValues = (nint*)System.Runtime.InteropServices.NativeMemory.Alloc(1, (nuint)sizeof(nint));
        _inNames[0] = System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8("x");
        _inNames[1] = System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8("y");
        _outNames[0] = System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8("z");
        _inValues[0] = RawHandles.Value(_tx);
        _inValues[1] = RawHandles.Value(_ty);
    }

    [Benchmark(Baseline = true, Description = "C API Run, preallocated output (floor)")]
    public float CApi_Preallocated()
    {
        _outValues[0] = RawHandles.Value(_tz);
        RawHandles.Run(_rawSession, _inNames, _inValues, 2, _outNames, 1, _outValues);
        return _z[0];
    }

    [Benchmark(Description = "OnnxSession.Run, preallocated output")]
    public float Binding_Preallocated()
    {
        _session.Run(_inputs, _outputs);
        return _z[0];
    }

    [Benchmark(Description = "OnnxSession.Run, preallocated output, cancellable token")]
    public float Binding_Preallocated_Cancellable()
    {
        _session.Run(_inputs, _outputs, Cancellable.Token);
        return _z[0];
    }

    [Benchmark(Description = "C API Run, ORT-allocated output + release")]
    public float CApi_Allocating()
    {
        _outValues[0] = 0;
        RawHandles.Run(_rawSession, _inNames, _inValues, 2, _outNames, 1, _outValues);
        var value = RawHandles.ReadFirstFloatAndRelease(_outValues[0]);
        return value;
    }

    [Benchmark(Description = "OnnxSession.Run, ORT-allocated output (OnnxOutputs)")]
    public float Binding_Allocating()
    {
        using var outputs = _session.Run(_inputs);
        return outputs.GetSpan<float>(0)[0];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tx.Dispose();
        _ty.Dispose();
        _tz.Dispose();
        _session.Dispose();
    }
}
