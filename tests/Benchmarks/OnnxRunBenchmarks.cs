using BenchmarkDotNet.Attributes;
using EdgeMed.Onnx;
using EdgeMed.Onnx.Model;
using EdgeMed.Onnx.Runtime;
using Google.Protobuf;

namespace EdgeMed.Benchmarks;

/// <summary>
/// Per-call cost of <see cref="OnnxSession.Run(ReadOnlySpan{NamedTensor}, CancellationToken)"/> on a one-element Add,
/// against Microsoft.ML.OnnxRuntime's own <c>InferenceSession.Run</c> with the same values (the baseline): the
/// difference is what our checks, leases and cancellation add.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 5, iterationCount: 30)]
public class OnnxRunBenchmarks
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
    private Microsoft.ML.OnnxRuntime.RunOptions _runOptions = null!;
    private string[] _inNames = null!;
    private Microsoft.ML.OnnxRuntime.OrtValue[] _inValues = null!;
    private string[] _outNames = null!;
    private Microsoft.ML.OnnxRuntime.OrtValue[] _outValues = null!;

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

        // The baseline gets everything prepared once, as the most frugal caller of the package would.
        _runOptions = new Microsoft.ML.OnnxRuntime.RunOptions();
        _inNames = ["x", "y"];
        _inValues = [_tx.Lease.Target, _ty.Lease.Target];
        _outNames = ["z"];
        _outValues = [_tz.Lease.Target];
    }

    [Benchmark(Baseline = true, Description = "InferenceSession.Run, preallocated output (floor)")]
    public float Package_Preallocated()
    {
        _session.Native.Run(_runOptions, _inNames, _inValues, _outNames, _outValues);
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

    [Benchmark(Description = "InferenceSession.Run, ORT-allocated output + release")]
    public float Package_Allocating()
    {
        using var outputs = _session.Native.Run(_runOptions, _inNames, _inValues, _outNames);
        return outputs[0].GetTensorDataAsSpan<float>()[0];
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
        _runOptions.Dispose();
        _tx.Dispose();
        _ty.Dispose();
        _tz.Dispose();
        _session.Dispose();
    }
}
