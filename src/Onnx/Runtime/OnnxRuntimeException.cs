namespace EdgeMed.Onnx.Runtime;

/// <summary>Error codes of ONNX Runtime's <c>OrtErrorCode</c>.</summary>
public enum OrtErrorCode
{
    /// <summary>Success.</summary>
    Ok = 0,

    /// <summary>Generic failure.</summary>
    Fail = 1,

    /// <summary>An argument was invalid.</summary>
    InvalidArgument = 2,

    /// <summary>A file was not found.</summary>
    NoSuchFile = 3,

    /// <summary>No model was loaded.</summary>
    NoModel = 4,

    /// <summary>An engine error.</summary>
    EngineError = 5,

    /// <summary>A runtime exception inside ONNX Runtime.</summary>
    RuntimeException = 6,

    /// <summary>The model's protobuf could not be parsed.</summary>
    InvalidProtobuf = 7,

    /// <summary>The model was already loaded.</summary>
    ModelLoaded = 8,

    /// <summary>Not implemented.</summary>
    NotImplemented = 9,

    /// <summary>The graph is invalid.</summary>
    InvalidGraph = 10,

    /// <summary>An execution provider failed.</summary>
    ExecutionProviderFail = 11,

    /// <summary>The model requires compilation.</summary>
    ModelRequiresCompilation = 12,
}

/// <summary>An ONNX Runtime call failed; <see cref="ErrorCode"/> and the message are ONNX Runtime's own.</summary>
public class OnnxRuntimeException : Exception
{
    /// <summary>Creates the exception from ONNX Runtime's code and message.</summary>
    public OnnxRuntimeException(OrtErrorCode errorCode, string message)
        : base($"[ONNX Runtime {errorCode}] {message}") => ErrorCode = errorCode;

    /// <summary>Creates the exception with a cause.</summary>
    public OnnxRuntimeException(OrtErrorCode errorCode, string message, Exception innerException)
        : base($"[ONNX Runtime {errorCode}] {message}", innerException) => ErrorCode = errorCode;

    /// <summary>ONNX Runtime's error code.</summary>
    public OrtErrorCode ErrorCode { get; }

    /// <summary>
    /// Ours from Microsoft.ML.OnnxRuntime's exception, whose code is internal and only in its message
    /// (<c>[ErrorCode:Name] text</c>). Its enum predates the C API's codes 11 (EP_FAIL) and 12; those are mapped by number.
    /// </summary>
    internal static OnnxRuntimeException From(Microsoft.ML.OnnxRuntime.OnnxRuntimeException e)
    {
        var (code, message) = Parse(e.Message);
        return new OnnxRuntimeException(code, message, e);
    }

    internal static (OrtErrorCode Code, string Message) Parse(string text)
    {
        const string Prefix = "[ErrorCode:";
        var end = text.IndexOf(']', StringComparison.Ordinal);
        if (!text.StartsWith(Prefix, StringComparison.Ordinal) || end < 0)
        {
            return (OrtErrorCode.Fail, text);
        }

        var name = text[Prefix.Length..end];
        var code = name switch
        {
            "ShapeInferenceNotRegistered" => OrtErrorCode.ExecutionProviderFail,
            "RequirementNotRegistered" => OrtErrorCode.ModelRequiresCompilation,
            _ => Enum.TryParse<OrtErrorCode>(name, out var parsed) ? parsed : OrtErrorCode.Fail,
        };
        return (code, text[(end + 1)..].TrimStart());
    }
}

/// <summary>The ONNX Runtime native library is missing or cannot be loaded on this machine.</summary>
public sealed class OnnxRuntimeUnavailableException : Exception
{
    /// <summary>Creates the exception for <paramref name="libraryPath"/>.</summary>
    public OnnxRuntimeUnavailableException(string libraryPath, string message, Exception? innerException = null)
        : base(message, innerException) => LibraryPath = libraryPath;

    /// <summary>The path that was tried.</summary>
    public string LibraryPath { get; }
}

/// <summary>
/// An execution provider (CUDA, TensorRT) was asked for but the ONNX Runtime build or the machine lacks it.
/// Callers that can run on CPU catch this and fall back.
/// </summary>
public sealed class ExecutionProviderUnavailableException : OnnxRuntimeException
{
    /// <summary>Creates the exception for <paramref name="provider"/>.</summary>
    public ExecutionProviderUnavailableException(ExecutionProvider provider, OrtErrorCode errorCode, string message)
        : base(errorCode, $"Execution provider {provider} is not available: {message}") => Provider = provider;

    /// <summary>The provider that was asked for.</summary>
    public ExecutionProvider Provider { get; }
}

/// <summary>
/// Tensors passed to <see cref="OnnxSession.Run(ReadOnlySpan{NamedTensor}, CancellationToken)"/> do not match the model
/// (unknown or missing name, element type, rank or a fixed dimension). Raised before any native call.
/// </summary>
public sealed class OnnxInputException : ArgumentException
{
    /// <summary>Creates the exception for the value named <paramref name="valueName"/>.</summary>
    public OnnxInputException(string valueName, string message)
        : base(message) => ValueName = valueName;

    /// <summary>The input or output name concerned.</summary>
    public string ValueName { get; }
}
