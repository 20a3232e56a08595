using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using EdgeMed.Onnx;
using EdgeMed.Onnx.Model;
using EdgeMed.Onnx.Runtime;

namespace EdgeMed.Benchmarks;

/// <summary>
/// Session creation for a 100 MB model (one 25,600×1,024 float MatMul weight), from a file and from bytes.
/// Each invocation creates and disposes one session; the file is in the OS page cache after the first read.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 8)]
[MemoryDiagnoser]
public class SessionCreationBenchmarks
{
    private const int Rows = 25_600;
    private const int Cols = 1_024;
    private string _folder = null!;
    private string _path = null!;
    private byte[] _bytes = null!;

    [GlobalSetup]
    public void Setup()
    {
        var weights = new float[Rows * Cols];
        var random = new Random(1);
        for (var i = 0; i < weights.Length; i++)
        {
            weights[i] = (float)random.NextDouble();
        }

        var b = new GraphBuilder("large");
        var x = b.Input("x", TensorElementType.Float, 1, Rows);
        var w = b.Initializer("w", weights, Rows, Cols);
        b.NamedNode("MatMul", [x, w], ["y"]);
        b.Output("y", TensorElementType.Float, 1, Cols);
        _folder = Directory.CreateTempSubdirectory("edgemed-bench-").FullName;
        _path = Path.Combine(_folder, "large.onnx");
        OnnxModelFile.Save(b.Build(), _path);
        _bytes = File.ReadAllBytes(_path);
        Console.WriteLine($"// model file: {_bytes.Length / 1048576.0:F1} MiB");
    }

    [Benchmark(Baseline = true, Description = "OnnxSession.Open(100 MB file)")]
    public int OpenFile()
    {
        using var session = OnnxSession.Open(_path, new OnnxSessionOptions { IntraOpThreads = 2 });
        return session.Inputs.Count;
    }

    [Benchmark(Description = "OnnxSession.FromBytes(100 MB in memory)")]
    public int FromBytes()
    {
        using var session = OnnxSession.FromBytes(_bytes, new OnnxSessionOptions { IntraOpThreads = 2 });
        return session.Inputs.Count;
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_folder, recursive: true);
}
