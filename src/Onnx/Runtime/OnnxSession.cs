using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Ort = Microsoft.ML.OnnxRuntime;

namespace EdgeMed.Onnx.Runtime;

/// <summary>
/// A loaded model, ready to run, over Microsoft.ML.OnnxRuntime's <c>InferenceSession</c>. Thread-safe: one session
/// may serve many threads at once (ONNX Runtime's <c>Run</c> is). Inputs are checked against the model before any
/// native call, so a wrong tensor gets our clear error instead of ONNX Runtime's. Disposing while runs are in
/// flight is safe: the native session is released when the last run returns.
/// </summary>
public sealed class OnnxSession : IDisposable
{
    // Runs that cannot be cancelled share one RunOptions: its terminate flag is never set.
    private static readonly Lazy<Ort.RunOptions> Uncancellable = new(() => new Ort.RunOptions());

    private readonly OrtLease<Ort.InferenceSession> _session;
    private readonly OnnxValueInfo[] _inputs;
    private readonly OnnxValueInfo[] _outputs;
    private readonly string[] _outputNames;
    private readonly Dictionary<string, int> _inputIndex;
    private readonly Dictionary<string, int> _outputIndex;

    private OnnxSession(Ort.InferenceSession session)
    {
        _session = new OrtLease<Ort.InferenceSession>(session);
        _inputs = [.. session.InputNames.Select(n => Describe(n, session.InputMetadata[n]))];
        _outputs = [.. session.OutputNames.Select(n => Describe(n, session.OutputMetadata[n]))];
        _outputNames = [.. _outputs.Select(o => o.Name)];
        _inputIndex = Index(_inputs);
        _outputIndex = Index(_outputs);
    }

    /// <summary>The package's session, for benchmarks that compare against calling it directly.</summary>
    internal Ort.InferenceSession Native => _session.Target;

    /// <summary>The model's inputs, in model order.</summary>
    public IReadOnlyList<OnnxValueInfo> Inputs => _inputs;

    /// <summary>The model's outputs, in model order.</summary>
    public IReadOnlyList<OnnxValueInfo> Outputs => _outputs;

    /// <summary>Loads a model file.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime refused the file (not ONNX, truncated, unsupported operator…).</exception>
    /// <exception cref="ExecutionProviderUnavailableException">The requested GPU provider is absent.</exception>
    /// <exception cref="OnnxRuntimeUnavailableException">The native library is missing or unusable.</exception>
    public static OnnxSession Open(string path, OnnxSessionOptions? options = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"ONNX model file not found: {full}", full);
        }

        return Create(options, logger, full, o => new Ort.InferenceSession(full, o));
    }

    /// <summary>Loads a model from bytes held in memory.</summary>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime refused the bytes.</exception>
    public static OnnxSession FromBytes(ReadOnlyMemory<byte> model, OnnxSessionOptions? options = null, ILogger? logger = null)
    {
        if (model.IsEmpty)
        {
            throw new OnnxRuntimeException(OrtErrorCode.InvalidProtobuf, "The model bytes are empty.");
        }

        var bytes = MemoryMarshal.TryGetArray(model, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length ? segment.Array : model.ToArray();
        return Create(options, logger, $"{model.Length} bytes in memory", o => new Ort.InferenceSession(bytes, o));
    }

    /// <summary>Runs the model and returns every output.</summary>
    /// <exception cref="OnnxInputException">The inputs do not match the model.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before or during the run.</exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime failed the run.</exception>
    public OnnxOutputs Run(ReadOnlySpan<NamedTensor> inputs, CancellationToken cancellationToken = default) =>
        RunAllocating(inputs, _outputNames, cancellationToken);

    /// <summary>Runs the model and returns the named outputs, in the order asked.</summary>
    /// <inheritdoc cref="Run(ReadOnlySpan{NamedTensor}, CancellationToken)" path="/exception"/>
    public OnnxOutputs Run(ReadOnlySpan<NamedTensor> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(outputNames);
        if (outputNames.Count == 0)
        {
            throw new ArgumentException("Ask for at least one output.", nameof(outputNames));
        }

        foreach (var name in outputNames)
        {
            _ = OutputIndex(name);
        }

        return RunAllocating(inputs, [.. outputNames], cancellationToken);
    }

    /// <summary>
    /// Runs the model writing into caller-owned output tensors: ONNX Runtime allocates no output per call.
    /// Each output tensor must have the output's element type and a shape the run produces.
    /// </summary>
    /// <inheritdoc cref="Run(ReadOnlySpan{NamedTensor}, CancellationToken)" path="/exception"/>
    public void Run(ReadOnlySpan<NamedTensor> inputs, ReadOnlySpan<NamedTensor> outputs, CancellationToken cancellationToken = default)
    {
        if (outputs.IsEmpty)
        {
            throw new ArgumentException("Give at least one output tensor.", nameof(outputs));
        }

        var names = new string[outputs.Length];
        for (var i = 0; i < outputs.Length; i++)
        {
            ArgumentNullException.ThrowIfNull(outputs[i].Tensor, nameof(outputs));
            var expected = _outputs[OutputIndex(outputs[i].Name)];
            names[i] = expected.Name;
            CheckTensor(expected, outputs[i].Tensor, "output");
        }

        var leases = new OrtLease<Ort.OrtValue>[outputs.Length];
        for (var i = 0; i < outputs.Length; i++)
        {
            leases[i] = outputs[i].Tensor.Lease;
        }

        RunCore(inputs, (session, options, inputNames, inputValues) =>
        {
            var added = 0;
            try
            {
                var values = new Ort.OrtValue[leases.Length];
                for (; added < leases.Length; added++)
                {
                    var ok = false;
                    leases[added].DangerousAddRef(ref ok);
                    values[added] = leases[added].Target;
                }

                session.Run(options, inputNames, inputValues, names, values);
                return 0;
            }
            finally
            {
                for (var i = 0; i < added; i++)
                {
                    leases[i].DangerousRelease();
                }
            }
        }, cancellationToken);
    }

    /// <summary>Stops profiling (<see cref="OnnxSessionOptions.ProfilePrefix"/>) and returns the profile's path.</summary>
    public string EndProfiling()
    {
        var lease = false;
        _session.DangerousAddRef(ref lease);
        try
        {
            return _session.Target.EndProfiling();
        }
        finally
        {
            if (lease)
            {
                _session.DangerousRelease();
            }
        }
    }

    /// <summary>Releases the session (deferred until runs in flight return).</summary>
    public void Dispose() => _session.Dispose();

    private OnnxOutputs RunAllocating(ReadOnlySpan<NamedTensor> inputs, string[] names, CancellationToken cancellationToken) =>
        new(names, RunCore(inputs, (session, options, inputNames, inputValues) => session.Run(options, inputNames, inputValues, names), cancellationToken));

    private TResult RunCore<TResult>(ReadOnlySpan<NamedTensor> inputs, Func<Ort.InferenceSession, Ort.RunOptions, string[], Ort.OrtValue[], TResult> run, CancellationToken cancellationToken)
    {
        // Refuse before touching native code: a cancelled caller, a disposed session, inputs that do not fit.
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_session.IsClosed, this);
        CheckInputs(inputs);

        var count = inputs.Length;
        var inputNames = new string[count];
        var inputValues = new Ort.OrtValue[count];
        var leases = new OrtLease<Ort.OrtValue>[count];
        var sessionAdded = false;
        var added = 0;
        Ort.RunOptions? runOptions = null;
        var registration = default(CancellationTokenRegistration);
        try
        {
            _session.DangerousAddRef(ref sessionAdded);
            for (; added < count; added++)
            {
                var ok = false;
                leases[added] = inputs[added].Tensor.Lease;
                leases[added].DangerousAddRef(ref ok);
                inputValues[added] = leases[added].Target;
                inputNames[added] = _inputs[_inputIndex[inputs[added].Name]].Name;
            }

            if (cancellationToken.CanBeCanceled)
            {
                // Per-run options: the terminate flag must stop this run only, not others sharing the session.
                runOptions = new Ort.RunOptions();
                registration = cancellationToken.UnsafeRegister(static state => ((Ort.RunOptions)state!).Terminate = true, runOptions);
            }

            try
            {
                return run(_session.Target, runOptions ?? Uncancellable.Value, inputNames, inputValues);
            }
            catch (Ort.OnnxRuntimeException e)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException("The ONNX Runtime run was cancelled.", OnnxRuntimeException.From(e), cancellationToken);
                }

                throw OnnxRuntimeException.From(e);
            }
        }
        finally
        {
            // Waits for a terminate callback in progress, so the run options are not released under it.
            registration.Dispose();
            runOptions?.Dispose();
            for (var i = 0; i < added; i++)
            {
                leases[i].DangerousRelease();
            }

            if (sessionAdded)
            {
                _session.DangerousRelease();
            }
        }
    }

    private void CheckInputs(ReadOnlySpan<NamedTensor> inputs)
    {
        Span<bool> seen = _inputs.Length <= 256 ? stackalloc bool[_inputs.Length] : new bool[_inputs.Length];
        foreach (var (name, tensor) in inputs)
        {
            if (name is null || !_inputIndex.TryGetValue(name, out var index))
            {
                throw new OnnxInputException(name ?? "<null>", $"The model has no input named '{name}'. Its inputs: {string.Join("; ", _inputs.Select(i => i.ToString()))}.");
            }

            if (seen[index])
            {
                throw new OnnxInputException(name, $"Input '{name}' is given twice.");
            }

            seen[index] = true;
            if (tensor is null)
            {
                throw new OnnxInputException(name, $"Input '{name}' has no tensor.");
            }

            CheckTensor(_inputs[index], tensor, "input");
        }

        for (var i = 0; i < seen.Length; i++)
        {
            if (!seen[i])
            {
                throw new OnnxInputException(_inputs[i].Name, $"Input {_inputs[i]} is missing.");
            }
        }
    }

    private static void CheckTensor(OnnxValueInfo expected, OnnxTensor tensor, string role)
    {
        if (tensor.Lease.IsClosed)
        {
            throw new ObjectDisposedException(nameof(OnnxTensor), $"The tensor for {role} '{expected.Name}' was disposed.");
        }

        if (tensor.ElementType != expected.ElementType)
        {
            throw new OnnxInputException(expected.Name, $"The {role} {expected} takes {expected.ElementType} elements, not {tensor.ElementType}.");
        }

        if (tensor.Shape.Length != expected.Shape.Count)
        {
            throw new OnnxInputException(expected.Name, $"The {role} {expected} has rank {expected.Shape.Count}; the tensor has rank {tensor.Shape.Length} [{string.Join(',', tensor.Shape.ToArray())}].");
        }

        if (!expected.Accepts(tensor.Shape))
        {
            throw new OnnxInputException(expected.Name, $"The {role} {expected} does not accept shape [{string.Join(',', tensor.Shape.ToArray())}].");
        }
    }

    private int OutputIndex(string name) =>
        name is not null && _outputIndex.TryGetValue(name, out var index)
            ? index
            : throw new OnnxInputException(name ?? "<null>", $"The model has no output named '{name}'. Its outputs: {string.Join("; ", _outputs.Select(o => o.ToString()))}.");

    private static OnnxSession Create(OnnxSessionOptions? options, ILogger? logger, string source, Func<Ort.SessionOptions, Ort.InferenceSession> create)
    {
        options ??= new OnnxSessionOptions();
        options.Validate();
        OrtEnvironment.EnsureCreated();
        var started = Stopwatch.GetTimestamp();
        Ort.InferenceSession? native = null;
        try
        {
            using (var nativeOptions = BuildOptions(options))
            {
                native = create(nativeOptions);
            }

            var session = new OnnxSession(native);
            var elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            Log.SessionCreated(logger ?? NullLogger.Instance, source, elapsedMs, session._inputs.Length, session._outputs.Length, options.Provider, options.IntraOpThreads);
            return session;
        }
        catch (Ort.OnnxRuntimeException e)
        {
            native?.Dispose();
            throw OnnxRuntimeException.From(e);
        }
        catch
        {
            native?.Dispose();
            throw;
        }
    }

    private static Ort.SessionOptions BuildOptions(OnnxSessionOptions options)
    {
        var native = new Ort.SessionOptions();
        try
        {
            native.IntraOpNumThreads = options.IntraOpThreads;
            native.InterOpNumThreads = options.InterOpThreads;
            native.GraphOptimizationLevel = (Ort.GraphOptimizationLevel)(int)options.Optimization;
            native.ExecutionMode = options.ExecutionMode == ExecutionMode.Parallel ? Ort.ExecutionMode.ORT_PARALLEL : Ort.ExecutionMode.ORT_SEQUENTIAL;
            if (options.ProfilePrefix is { } prefix)
            {
                native.ProfileOutputPathPrefix = prefix; // first: enabling takes the prefix set at that moment
                native.EnableProfiling = true;
            }

            if (options.OptimizedModelPath is { } optimized)
            {
                native.OptimizedModelFilePath = optimized;
            }

            if (!options.UseMemoryArena)
            {
                native.EnableCpuMemArena = false;
                native.EnableMemoryPattern = false;
            }

            if (!options.PrepackWeights)
            {
                native.AddSessionConfigEntry(OnnxSessionOptions.DisablePrepackingKey, "1");
            }

            var spin = options.AllowSpinning ? "1" : "0";
            native.AddSessionConfigEntry("session.intra_op.allow_spinning", spin);
            native.AddSessionConfigEntry("session.inter_op.allow_spinning", spin);
            foreach (var (key, value) in options.ConfigEntries)
            {
                native.AddSessionConfigEntry(key, value);
            }

            switch (options.Provider)
            {
                case ExecutionProvider.Cuda:
                    AppendGpuProvider(native, ExecutionProvider.Cuda, options.DeviceId);
                    break;
                case ExecutionProvider.TensorRt:
                    AppendGpuProvider(native, ExecutionProvider.TensorRt, options.DeviceId);
                    AppendGpuProvider(native, ExecutionProvider.Cuda, options.DeviceId);
                    break;
                case ExecutionProvider.Cpu:
                default:
                    break;
            }

            return native;
        }
        catch (Ort.OnnxRuntimeException e)
        {
            native.Dispose();
            throw OnnxRuntimeException.From(e);
        }
        catch
        {
            native.Dispose();
            throw;
        }
    }

    private static void AppendGpuProvider(Ort.SessionOptions options, ExecutionProvider provider, int deviceId)
    {
        var nativeName = provider == ExecutionProvider.Cuda ? "CUDAExecutionProvider" : "TensorrtExecutionProvider";
        if (!OrtEnvironment.AvailableProviders.Contains(nativeName))
        {
            throw new ExecutionProviderUnavailableException(provider, OrtErrorCode.NotImplemented,
                $"this ONNX Runtime build ({OrtEnvironment.Version}) has only {string.Join(", ", OrtEnvironment.AvailableProviders)}.");
        }

        try
        {
            // Loading the provider library (and CUDA itself) happens here; a machine without them fails at this point.
            if (provider == ExecutionProvider.Cuda)
            {
                options.AppendExecutionProvider_CUDA(deviceId);
            }
            else
            {
                options.AppendExecutionProvider_Tensorrt(deviceId);
            }
        }
        catch (Ort.OnnxRuntimeException e)
        {
            var (code, message) = OnnxRuntimeException.Parse(e.Message);
            throw new ExecutionProviderUnavailableException(provider, code, message);
        }
    }

    private static OnnxValueInfo Describe(string name, Ort.NodeMetadata metadata) =>
        metadata.IsTensor
            ? new OnnxValueInfo(name, (TensorElementType)(int)metadata.ElementDataType, [.. metadata.Dimensions.Select(d => (long)d)], [.. metadata.SymbolicDimensions.Select(s => s ?? string.Empty)])
            : new OnnxValueInfo(name, TensorElementType.Undefined, [], []);

    private static Dictionary<string, int> Index(OnnxValueInfo[] infos)
    {
        var index = new Dictionary<string, int>(infos.Length, StringComparer.Ordinal);
        for (var i = 0; i < infos.Length; i++)
        {
            index[infos[i].Name] = i;
        }

        return index;
    }
}
