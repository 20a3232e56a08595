namespace EdgeMed.Onnx.Runtime;

/// <summary>ONNX Runtime's graph optimization levels.</summary>
public enum GraphOptimization
{
    /// <summary>No optimizations.</summary>
    None = 0,

    /// <summary>Semantics-preserving rewrites such as constant folding.</summary>
    Basic = 1,

    /// <summary>Basic plus node fusions.</summary>
    Extended = 2,

    /// <summary>Extended plus layout optimizations.</summary>
    Layout = 3,

    /// <summary>Every optimization (ONNX Runtime's default).</summary>
    All = 99,
}

/// <summary>How independent nodes of a graph are scheduled.</summary>
public enum ExecutionMode
{
    /// <summary>One node after another; parallelism only inside operators (intra-op). Best for the CNNs we serve.</summary>
    Sequential = 0,

    /// <summary>Independent branches run in parallel on the inter-op pool.</summary>
    Parallel = 1,
}

/// <summary>Where a session runs.</summary>
public enum ExecutionProvider
{
    /// <summary>The CPU (always present).</summary>
    Cpu = 0,

    /// <summary>NVIDIA CUDA; the native build must carry the CUDA provider library.</summary>
    Cuda = 1,

    /// <summary>NVIDIA TensorRT (with CUDA for the rest); the native build must carry both provider libraries.</summary>
    TensorRt = 2,
}

/// <summary>Settings for a new <see cref="OnnxSession"/>. Plain data: nothing native is held until a session is created.</summary>
public sealed record OnnxSessionOptions
{
    /// <summary>Threads inside one operator; 0 lets ONNX Runtime choose (one per physical core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Threads across operators in <see cref="ExecutionMode.Parallel"/>; 0 lets ONNX Runtime choose.</summary>
    public int InterOpThreads { get; init; }

    /// <summary>
    /// Whether idle pool threads spin waiting for work. Off by default: spinning lowers latency by roughly a tenth
    /// but burns idle CPU, which a service that waits for files should not do.
    /// </summary>
    public bool AllowSpinning { get; init; }

    /// <summary>
    /// Keep ONNX Runtime's CPU memory arena and memory pattern (the default: fastest). Off, activations are allocated
    /// per run and returned after it, so an idle process holds less memory (what a small edge device may want).
    /// </summary>
    public bool UseMemoryArena { get; init; } = true;

    /// <summary>
    /// Let kernels keep their constant weights pre-packed in the layout their matrix routines read (the default:
    /// faster). Off, the int8 kernels keep no packed copies: less resident memory for a little throughput, for a device
    /// where memory is scarcer than time (figures in docs/PERFORMANCE.md, memory).
    /// </summary>
    public bool PrepackWeights { get; init; } = true;

    /// <summary>Graph optimization level.</summary>
    public GraphOptimization Optimization { get; init; } = GraphOptimization.All;

    /// <summary>Execution mode.</summary>
    public ExecutionMode ExecutionMode { get; init; } = ExecutionMode.Sequential;

    /// <summary>Execution provider; anything but <see cref="ExecutionProvider.Cpu"/> raises <see cref="ExecutionProviderUnavailableException"/> when absent.</summary>
    public ExecutionProvider Provider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>GPU ordinal for CUDA or TensorRT.</summary>
    public int DeviceId { get; init; }

    /// <summary>Extra ONNX Runtime session configuration entries (keys of <c>onnxruntime_session_options_config_keys.h</c>).</summary>
    public IReadOnlyDictionary<string, string> ConfigEntries { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Path prefix of ONNX Runtime's per-node profile (a Chrome trace, JSON), or null for none. The profile grows with
    /// every run: for benchmarks, not for the service. <see cref="OnnxSession.EndProfiling"/> closes it.
    /// </summary>
    public string? ProfilePrefix { get; init; }

    /// <summary>
    /// Where ONNX Runtime writes the graph as it runs it, after its optimizations (fusions, layout changes, constant
    /// folding), or null: to count what fired. At level <see cref="GraphOptimization.All"/> the file may hold
    /// CPU-specific layouts, so it is for reading, not for shipping.
    /// </summary>
    public string? OptimizedModelPath { get; init; }

    /// <summary>ONNX Runtime's session configuration key behind <see cref="PrepackWeights"/>.</summary>
    internal const string DisablePrepackingKey = "session.disable_prepacking";

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(IntraOpThreads);
        ArgumentOutOfRangeException.ThrowIfNegative(InterOpThreads);
        ArgumentOutOfRangeException.ThrowIfNegative(DeviceId);
        if (!Enum.IsDefined(Optimization) || !Enum.IsDefined(ExecutionMode) || !Enum.IsDefined(Provider))
        {
            throw new ArgumentException("Unknown optimization level, execution mode or provider.");
        }

        if (ConfigEntries.ContainsKey(DisablePrepackingKey))
        {
            throw new ArgumentException($"Set {nameof(PrepackWeights)} instead of the configuration entry {DisablePrepackingKey}.");
        }

        if (ConfigEntries.ContainsKey("session.use_ort_model_bytes_directly"))
        {
            // ORT would keep reading the caller's bytes after creation; the binding unpins them when creation returns.
            throw new ArgumentException("session.use_ort_model_bytes_directly is not supported: the model bytes are not kept pinned.");
        }
    }
}
