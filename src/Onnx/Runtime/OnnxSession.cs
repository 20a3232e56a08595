using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMed.Onnx.Runtime;

/// <summary>
/// A loaded model, ready to run. Thread-safe: one session may serve many threads at once (ONNX Runtime's
/// <c>Run</c> is). Inputs are checked against the model before any native call. Disposing while runs are in
/// flight is safe: the native session is released when the last run returns.
/// </summary>
public sealed unsafe class OnnxSession : IDisposable
{
    private readonly OrtSessionHandle _session;
    private readonly OnnxValueInfo[] _inputs;
    private readonly OnnxValueInfo[] _outputs;
    private readonly nint[] _inputNames;
    private readonly nint[] _outputNames;
    private readonly string[] _outputNameStrings;
    private readonly Dictionary<string, int> _inputIndex;
    private readonly Dictionary<string, int> _outputIndex;

    private OnnxSession(OrtSessionHandle session)
    {
        _session = session;
        (_inputs, _inputNames) = ReadValueInfos(session, isInput: true);
        (_outputs, _outputNames) = ReadValueInfos(session, isInput: false);
        _outputNameStrings = [.. _outputs.Select(o => o.Name)];
        _inputIndex = Index(_inputs);
        _outputIndex = Index(_outputs);
    }

    internal OrtSessionHandle Handle => _session;

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

        var utf8Path = Encoding.UTF8.GetBytes(full + "\0");
        return Create(options, logger, full, (env, opts, session) =>
        {
            fixed (byte* p = utf8Path)
            {
                return OrtNative.CreateSession(env, p, opts, session);
            }
        });
    }

    /// <summary>Loads a model from bytes held in memory.</summary>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime refused the bytes.</exception>
    public static OnnxSession FromBytes(ReadOnlyMemory<byte> model, OnnxSessionOptions? options = null, ILogger? logger = null)
    {
        if (model.IsEmpty)
        {
            throw new OnnxRuntimeException(OrtErrorCode.InvalidProtobuf, "The model bytes are empty.");
        }

        return Create(options, logger, $"{model.Length} bytes in memory", (env, opts, session) =>
        {
            fixed (byte* p = model.Span)
            {
                return OrtNative.CreateSessionFromArray(env, p, (nuint)model.Length, opts, session);
            }
        });
    }

    /// <summary>Runs the model and returns every output.</summary>
    /// <exception cref="OnnxInputException">The inputs do not match the model.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before or during the run.</exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime failed the run.</exception>
    public OnnxOutputs Run(ReadOnlySpan<NamedTensor> inputs, CancellationToken cancellationToken = default)
    {
        Span<int> all = _outputs.Length <= 64 ? stackalloc int[_outputs.Length] : new int[_outputs.Length];
        for (var i = 0; i < all.Length; i++)
        {
            all[i] = i;
        }

        return RunAllocating(inputs, all, _outputNameStrings, cancellationToken);
    }

    /// <summary>Runs the model and returns the named outputs, in the order asked.</summary>
    /// <inheritdoc cref="Run(ReadOnlySpan{NamedTensor}, CancellationToken)" path="/exception"/>
    public OnnxOutputs Run(ReadOnlySpan<NamedTensor> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(outputNames);
        if (outputNames.Count == 0)
        {
            throw new ArgumentException("Ask for at least one output.", nameof(outputNames));
        }

        Span<int> indices = outputNames.Count <= 64 ? stackalloc int[outputNames.Count] : new int[outputNames.Count];
        for (var i = 0; i < indices.Length; i++)
        {
            indices[i] = OutputIndex(outputNames[i]);
        }

        return RunAllocating(inputs, indices, [.. outputNames], cancellationToken);
    }

    /// <summary>
    /// Runs the model writing into caller-owned output tensors: nothing is allocated, managed or native, per call.
    /// Each output tensor must have the output's element type and a shape the run produces.
    /// </summary>
    /// <inheritdoc cref="Run(ReadOnlySpan{NamedTensor}, CancellationToken)" path="/exception"/>
    public void Run(ReadOnlySpan<NamedTensor> inputs, ReadOnlySpan<NamedTensor> outputs, CancellationToken cancellationToken = default)
    {
        if (outputs.IsEmpty)
        {
            throw new ArgumentException("Give at least one output tensor.", nameof(outputs));
        }

        Span<int> indices = outputs.Length <= 64 ? stackalloc int[outputs.Length] : new int[outputs.Length];
        for (var i = 0; i < outputs.Length; i++)
        {
            ArgumentNullException.ThrowIfNull(outputs[i].Tensor, nameof(outputs));
            indices[i] = OutputIndex(outputs[i].Name);
            CheckTensor(_outputs[indices[i]], outputs[i].Tensor, "output");
        }

        var values = outputs.Length <= 64 ? stackalloc nint[outputs.Length] : new nint[outputs.Length];
        var added = 0;
        try
        {
            for (; added < outputs.Length; added++)
            {
                var ok = false;
                outputs[added].Tensor.Handle.DangerousAddRef(ref ok);
                values[added] = outputs[added].Tensor.Handle.DangerousGetHandle();
            }

            fixed (nint* outputValues = values)
            {
                RunCore(inputs, indices, outputValues, cancellationToken);
            }
        }
        finally
        {
            for (var i = 0; i < added; i++)
            {
                outputs[i].Tensor.Handle.DangerousRelease();
            }
        }
    }

    /// <summary>Releases the session (deferred until runs in flight return).</summary>
    public void Dispose() => _session.Dispose();

    private OnnxOutputs RunAllocating(ReadOnlySpan<NamedTensor> inputs, ReadOnlySpan<int> outputIndices, string[] names, CancellationToken cancellationToken)
    {
        var values = outputIndices.Length <= 64 ? stackalloc nint[outputIndices.Length] : new nint[outputIndices.Length];
        values.Clear();
        fixed (nint* outputValues = values)
        {
            RunCore(inputs, outputIndices, outputValues, cancellationToken);
        }

        return new OnnxOutputs(names, values);
    }

    private void RunCore(ReadOnlySpan<NamedTensor> inputs, ReadOnlySpan<int> outputIndices, nint* outputValues, CancellationToken cancellationToken)
    {
        // Refuse before touching native code: a cancelled caller, a disposed session, inputs that do not fit.
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_session.IsClosed, this);
        CheckInputs(inputs);

        var count = inputs.Length;
        var inputNames = count <= 64 ? stackalloc nint[count] : new nint[count];
        var inputValues = count <= 64 ? stackalloc nint[count] : new nint[count];
        var outputNames = outputIndices.Length <= 64 ? stackalloc nint[outputIndices.Length] : new nint[outputIndices.Length];
        for (var i = 0; i < outputIndices.Length; i++)
        {
            outputNames[i] = _outputNames[outputIndices[i]];
        }

        var sessionAdded = false;
        var added = 0;
        OrtRunOptionsHandle? runOptions = null;
        var registration = default(CancellationTokenRegistration);
        try
        {
            _session.DangerousAddRef(ref sessionAdded);
            for (; added < count; added++)
            {
                var ok = false;
                inputs[added].Tensor.Handle.DangerousAddRef(ref ok);
                inputValues[added] = inputs[added].Tensor.Handle.DangerousGetHandle();
                inputNames[added] = _inputNames[_inputIndex[inputs[added].Name]];
            }

            if (cancellationToken.CanBeCanceled)
            {
                // Per-run options: the terminate flag must stop this run only, not others sharing the session.
                runOptions = OrtRunOptionsHandle.Create();
                registration = cancellationToken.UnsafeRegister(static state => Terminate((OrtRunOptionsHandle)state!), runOptions);
            }

            nint status;
            fixed (nint* inNames = inputNames, inValues = inputValues, outNames = outputNames)
            {
                status = OrtNative.Run(_session.DangerousGetHandle(), runOptions?.DangerousGetHandle() ?? 0, inNames, inValues, (nuint)count, outNames, (nuint)outputIndices.Length, outputValues);
            }

            // Waits for a terminate callback in progress, so the run options are not released under it.
            registration.Dispose();
            if (status != 0)
            {
                var (code, message) = OrtNative.ReadAndRelease(status);
                if (cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException("The ONNX Runtime run was cancelled.", new OnnxRuntimeException(code, message), cancellationToken);
                }

                throw new OnnxRuntimeException(code, message);
            }
        }
        finally
        {
            registration.Dispose();
            runOptions?.Dispose();
            for (var i = 0; i < added; i++)
            {
                inputs[i].Tensor.Handle.DangerousRelease();
            }

            if (sessionAdded)
            {
                _session.DangerousRelease();
            }
        }
    }

    private static void Terminate(OrtRunOptionsHandle runOptions)
    {
        var status = OrtNative.RunOptionsSetTerminate(runOptions.DangerousGetHandle());
        if (status != 0)
        {
            OrtNative.ReleaseStatus(status);
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
        if (tensor.Handle.IsClosed)
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

    private static OnnxSession Create(OnnxSessionOptions? options, ILogger? logger, string source, CreateSessionCall create)
    {
        options ??= new OnnxSessionOptions();
        options.Validate();
        var env = OrtEnvironment.Handle;
        var started = Stopwatch.GetTimestamp();
        var handle = new OrtSessionHandle();
        try
        {
            using (var nativeOptions = BuildOptions(options))
            {
                nint raw;
                OrtNative.Check(create(env.DangerousGetHandle(), nativeOptions.DangerousGetHandle(), &raw));
                handle.Assign(raw);
            }

            var session = new OnnxSession(handle);
            var elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            Log.SessionCreated(logger ?? NullLogger.Instance, source, elapsedMs, session._inputs.Length, session._outputs.Length, options.Provider, options.IntraOpThreads);
            return session;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private delegate nint CreateSessionCall(nint env, nint options, nint* session);

    private static OrtSessionOptionsHandle BuildOptions(OnnxSessionOptions options)
    {
        var handle = OrtSessionOptionsHandle.Create();
        try
        {
            var raw = handle.DangerousGetHandle();
            if (options.IntraOpThreads > 0)
            {
                OrtNative.Check(OrtNative.SetIntraOpNumThreads(raw, options.IntraOpThreads));
            }

            if (options.InterOpThreads > 0)
            {
                OrtNative.Check(OrtNative.SetInterOpNumThreads(raw, options.InterOpThreads));
            }

            OrtNative.Check(OrtNative.SetSessionGraphOptimizationLevel(raw, (int)options.Optimization));
            OrtNative.Check(OrtNative.SetSessionExecutionMode(raw, (int)options.ExecutionMode));
            if (!options.UseMemoryArena)
            {
                OrtNative.Check(OrtNative.DisableCpuMemArena(raw));
                OrtNative.Check(OrtNative.DisableMemPattern(raw));
            }

            var spin = options.AllowSpinning ? "1" : "0";
            AddConfigEntry(raw, "session.intra_op.allow_spinning", spin);
            AddConfigEntry(raw, "session.inter_op.allow_spinning", spin);
            foreach (var (key, value) in options.ConfigEntries)
            {
                AddConfigEntry(raw, key, value);
            }

            switch (options.Provider)
            {
                case ExecutionProvider.Cuda:
                    AppendGpuProvider(raw, ExecutionProvider.Cuda, options.DeviceId);
                    break;
                case ExecutionProvider.TensorRt:
                    AppendGpuProvider(raw, ExecutionProvider.TensorRt, options.DeviceId);
                    AppendGpuProvider(raw, ExecutionProvider.Cuda, options.DeviceId);
                    break;
                case ExecutionProvider.Cpu:
                default:
                    break;
            }

            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static void AddConfigEntry(nint options, string key, string value)
    {
        var k = Encoding.UTF8.GetBytes(key + "\0");
        var v = Encoding.UTF8.GetBytes(value + "\0");
        fixed (byte* pk = k, pv = v)
        {
            OrtNative.Check(OrtNative.AddSessionConfigEntry(options, pk, pv));
        }
    }

    private static void AppendGpuProvider(nint sessionOptions, ExecutionProvider provider, int deviceId)
    {
        var nativeName = provider == ExecutionProvider.Cuda ? "CUDAExecutionProvider" : "TensorrtExecutionProvider";
        if (!OrtEnvironment.AvailableProviders.Contains(nativeName))
        {
            throw new ExecutionProviderUnavailableException(provider, OrtErrorCode.NotImplemented,
                $"this ONNX Runtime build ({OrtEnvironment.Version}) has only {string.Join(", ", OrtEnvironment.AvailableProviders)}.");
        }

        var cuda = provider == ExecutionProvider.Cuda;
        nint providerOptions;
        var status = cuda ? OrtNative.CreateCudaProviderOptions(&providerOptions) : OrtNative.CreateTensorRtProviderOptions(&providerOptions);
        ThrowUnavailableIfFailed(provider, status);
        try
        {
            var key = "device_id\0"u8;
            var value = Encoding.UTF8.GetBytes(deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\0");
            fixed (byte* k = key, v = value)
            {
                var keys = stackalloc byte*[1];
                keys[0] = k;
                var values = stackalloc byte*[1];
                values[0] = v;
                status = cuda
                    ? OrtNative.UpdateCudaProviderOptions(providerOptions, keys, values, 1)
                    : OrtNative.UpdateTensorRtProviderOptions(providerOptions, keys, values, 1);
                ThrowUnavailableIfFailed(provider, status);
            }

            // Loading the provider library (and CUDA itself) happens here; a CPU-only machine fails at this point.
            status = cuda ? OrtNative.AppendCudaV2(sessionOptions, providerOptions) : OrtNative.AppendTensorRtV2(sessionOptions, providerOptions);
            ThrowUnavailableIfFailed(provider, status);
        }
        finally
        {
            if (cuda)
            {
                OrtNative.ReleaseCudaProviderOptions(providerOptions);
            }
            else
            {
                OrtNative.ReleaseTensorRtProviderOptions(providerOptions);
            }
        }
    }

    private static void ThrowUnavailableIfFailed(ExecutionProvider provider, nint status)
    {
        if (status != 0)
        {
            var (code, message) = OrtNative.ReadAndRelease(status);
            throw new ExecutionProviderUnavailableException(provider, code, message);
        }
    }

    private static (OnnxValueInfo[] Infos, nint[] NativeNames) ReadValueInfos(OrtSessionHandle session, bool isInput)
    {
        var raw = session.DangerousGetHandle();
        nuint count;
        OrtNative.Check(isInput ? OrtNative.SessionGetInputCount(raw, &count) : OrtNative.SessionGetOutputCount(raw, &count));
        var infos = new OnnxValueInfo[(int)count];
        var names = new nint[(int)count];
        for (nuint i = 0; i < count; i++)
        {
            byte* namePtr;
            OrtNative.Check(isInput
                ? OrtNative.SessionGetInputName(raw, i, OrtEnvironment.DefaultAllocator, &namePtr)
                : OrtNative.SessionGetOutputName(raw, i, OrtEnvironment.DefaultAllocator, &namePtr));
            string name;
            try
            {
                name = Marshal.PtrToStringUTF8((nint)namePtr) ?? string.Empty;
            }
            finally
            {
                OrtNative.Check(OrtNative.AllocatorFree(OrtEnvironment.DefaultAllocator, namePtr));
            }

            names[(int)i] = session.KeepName(name);
            nint typeInfo;
            OrtNative.Check(isInput ? OrtNative.SessionGetInputTypeInfo(raw, i, &typeInfo) : OrtNative.SessionGetOutputTypeInfo(raw, i, &typeInfo));
            try
            {
                infos[(int)i] = ReadTensorInfo(name, typeInfo);
            }
            finally
            {
                OrtNative.ReleaseTypeInfo(typeInfo);
            }
        }

        return (infos, names);
    }

    private static OnnxValueInfo ReadTensorInfo(string name, nint typeInfo)
    {
        int onnxType;
        OrtNative.Check(OrtNative.GetOnnxTypeFromTypeInfo(typeInfo, &onnxType));
        if (onnxType != 1 /* ONNX_TYPE_TENSOR */)
        {
            return new OnnxValueInfo(name, TensorElementType.Undefined, [], []);
        }

        nint tensorInfo; // owned by typeInfo
        OrtNative.Check(OrtNative.CastTypeInfoToTensorInfo(typeInfo, &tensorInfo));
        var (elementType, shape, symbolic) = ReadTypeAndShape(tensorInfo);
        return new OnnxValueInfo(name, elementType, shape, symbolic);
    }

    /// <summary>Reads element type, dimensions and symbolic dimension names from an <c>OrtTensorTypeAndShapeInfo</c>.</summary>
    internal static (TensorElementType ElementType, long[] Shape, string[] Symbolic) ReadTypeAndShape(nint tensorInfo)
    {
        int elementType;
        OrtNative.Check(OrtNative.GetTensorElementType(tensorInfo, &elementType));
        nuint rank;
        OrtNative.Check(OrtNative.GetDimensionsCount(tensorInfo, &rank));
        var shape = new long[(int)rank];
        var symbolic = new string[(int)rank];
        if (rank > 0)
        {
            var symbols = stackalloc byte*[(int)rank];
            fixed (long* dims = shape)
            {
                OrtNative.Check(OrtNative.GetDimensions(tensorInfo, dims, rank));
            }

            OrtNative.Check(OrtNative.GetSymbolicDimensions(tensorInfo, symbols, rank));
            for (var d = 0; d < (int)rank; d++)
            {
                symbolic[d] = Marshal.PtrToStringUTF8((nint)symbols[d]) ?? string.Empty;
            }
        }

        return ((TensorElementType)elementType, shape, symbolic);
    }

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
