using System.Runtime.InteropServices;

namespace EdgeMed.Onnx.Runtime;

/// <summary>
/// The slots of ONNX Runtime's <c>OrtApi</c> table that the binding calls, read once from the table.
/// Slot numbers are positions in <c>struct OrtApi</c> of <c>onnxruntime_c_api.h</c> (append-only across versions).
/// </summary>
internal static unsafe class OrtNative
{
    // Slot numbers in struct OrtApi (ORT_API_VERSION 23), 0-based.
    private const int SlotGetErrorCode = 1;
    private const int SlotGetErrorMessage = 2;
    private const int SlotCreateEnvWithCustomLogger = 4;
    private const int SlotCreateSession = 7;
    private const int SlotCreateSessionFromArray = 8;
    private const int SlotRun = 9;
    private const int SlotCreateSessionOptions = 10;
    private const int SlotSetSessionExecutionMode = 13;
    private const int SlotDisableMemPattern = 17;
    private const int SlotDisableCpuMemArena = 19;
    private const int SlotSetSessionGraphOptimizationLevel = 23;
    private const int SlotSetIntraOpNumThreads = 24;
    private const int SlotSetInterOpNumThreads = 25;
    private const int SlotSessionGetInputCount = 30;
    private const int SlotSessionGetOutputCount = 31;
    private const int SlotSessionGetInputTypeInfo = 33;
    private const int SlotSessionGetOutputTypeInfo = 34;
    private const int SlotSessionGetInputName = 36;
    private const int SlotSessionGetOutputName = 37;
    private const int SlotCreateRunOptions = 39;
    private const int SlotRunOptionsSetTerminate = 46;
    private const int SlotCreateTensorWithDataAsOrtValue = 49;
    private const int SlotGetTensorMutableData = 51;
    private const int SlotCastTypeInfoToTensorInfo = 55;
    private const int SlotGetOnnxTypeFromTypeInfo = 56;
    private const int SlotGetTensorElementType = 60;
    private const int SlotGetDimensionsCount = 61;
    private const int SlotGetDimensions = 62;
    private const int SlotGetSymbolicDimensions = 63;
    private const int SlotGetTensorShapeElementCount = 64;
    private const int SlotGetTensorTypeAndShape = 65;
    private const int SlotCreateCpuMemoryInfo = 69;
    private const int SlotAllocatorFree = 76;
    private const int SlotGetAllocatorWithDefaultOptions = 78;
    private const int SlotReleaseEnv = 92;
    private const int SlotReleaseStatus = 93;
    private const int SlotReleaseSession = 95;
    private const int SlotReleaseValue = 96;
    private const int SlotReleaseRunOptions = 97;
    private const int SlotReleaseTypeInfo = 98;
    private const int SlotReleaseTensorTypeAndShapeInfo = 99;
    private const int SlotReleaseSessionOptions = 100;
    private const int SlotGetAvailableProviders = 125;
    private const int SlotReleaseAvailableProviders = 126;
    private const int SlotAddSessionConfigEntry = 130;
    private const int SlotCreateTensorRTProviderOptions = 171;
    private const int SlotSessionOptionsAppendExecutionProviderTensorRTV2 = 170;
    private const int SlotUpdateTensorRTProviderOptions = 172;
    private const int SlotReleaseTensorRTProviderOptions = 174;
    private const int SlotSessionOptionsAppendExecutionProviderCudaV2 = 204;
    private const int SlotCreateCudaProviderOptions = 205;
    private const int SlotUpdateCudaProviderOptions = 206;
    private const int SlotReleaseCudaProviderOptions = 208;

    private static readonly nint* Table = (nint*)OrtLibrary.Api;

    // Status
    internal static readonly delegate* unmanaged<nint, OrtErrorCode> GetErrorCode = (delegate* unmanaged<nint, OrtErrorCode>)Table[SlotGetErrorCode];
    internal static readonly delegate* unmanaged<nint, byte*> GetErrorMessage = (delegate* unmanaged<nint, byte*>)Table[SlotGetErrorMessage];
    internal static readonly delegate* unmanaged<nint, void> ReleaseStatus = (delegate* unmanaged<nint, void>)Table[SlotReleaseStatus];

    // Environment
    internal static readonly delegate* unmanaged<nint, nint, int, byte*, nint*, nint> CreateEnvWithCustomLogger = (delegate* unmanaged<nint, nint, int, byte*, nint*, nint>)Table[SlotCreateEnvWithCustomLogger];
    internal static readonly delegate* unmanaged<nint, void> ReleaseEnv = (delegate* unmanaged<nint, void>)Table[SlotReleaseEnv];
    internal static readonly delegate* unmanaged<byte***, int*, nint> GetAvailableProviders = (delegate* unmanaged<byte***, int*, nint>)Table[SlotGetAvailableProviders];
    internal static readonly delegate* unmanaged<byte**, int, nint> ReleaseAvailableProviders = (delegate* unmanaged<byte**, int, nint>)Table[SlotReleaseAvailableProviders];

    // Session options
    internal static readonly delegate* unmanaged<nint*, nint> CreateSessionOptions = (delegate* unmanaged<nint*, nint>)Table[SlotCreateSessionOptions];
    internal static readonly delegate* unmanaged<nint, void> ReleaseSessionOptions = (delegate* unmanaged<nint, void>)Table[SlotReleaseSessionOptions];
    internal static readonly delegate* unmanaged<nint, int, nint> SetSessionExecutionMode = (delegate* unmanaged<nint, int, nint>)Table[SlotSetSessionExecutionMode];
    internal static readonly delegate* unmanaged<nint, nint> DisableMemPattern = (delegate* unmanaged<nint, nint>)Table[SlotDisableMemPattern];
    internal static readonly delegate* unmanaged<nint, nint> DisableCpuMemArena = (delegate* unmanaged<nint, nint>)Table[SlotDisableCpuMemArena];
    internal static readonly delegate* unmanaged<nint, int, nint> SetSessionGraphOptimizationLevel = (delegate* unmanaged<nint, int, nint>)Table[SlotSetSessionGraphOptimizationLevel];
    internal static readonly delegate* unmanaged<nint, int, nint> SetIntraOpNumThreads = (delegate* unmanaged<nint, int, nint>)Table[SlotSetIntraOpNumThreads];
    internal static readonly delegate* unmanaged<nint, int, nint> SetInterOpNumThreads = (delegate* unmanaged<nint, int, nint>)Table[SlotSetInterOpNumThreads];
    internal static readonly delegate* unmanaged<nint, byte*, byte*, nint> AddSessionConfigEntry = (delegate* unmanaged<nint, byte*, byte*, nint>)Table[SlotAddSessionConfigEntry];
    internal static readonly delegate* unmanaged<nint*, nint> CreateCudaProviderOptions = (delegate* unmanaged<nint*, nint>)Table[SlotCreateCudaProviderOptions];
    internal static readonly delegate* unmanaged<nint, byte**, byte**, nuint, nint> UpdateCudaProviderOptions = (delegate* unmanaged<nint, byte**, byte**, nuint, nint>)Table[SlotUpdateCudaProviderOptions];
    internal static readonly delegate* unmanaged<nint, nint, nint> AppendCudaV2 = (delegate* unmanaged<nint, nint, nint>)Table[SlotSessionOptionsAppendExecutionProviderCudaV2];
    internal static readonly delegate* unmanaged<nint, void> ReleaseCudaProviderOptions = (delegate* unmanaged<nint, void>)Table[SlotReleaseCudaProviderOptions];
    internal static readonly delegate* unmanaged<nint*, nint> CreateTensorRtProviderOptions = (delegate* unmanaged<nint*, nint>)Table[SlotCreateTensorRTProviderOptions];
    internal static readonly delegate* unmanaged<nint, byte**, byte**, nuint, nint> UpdateTensorRtProviderOptions = (delegate* unmanaged<nint, byte**, byte**, nuint, nint>)Table[SlotUpdateTensorRTProviderOptions];
    internal static readonly delegate* unmanaged<nint, nint, nint> AppendTensorRtV2 = (delegate* unmanaged<nint, nint, nint>)Table[SlotSessionOptionsAppendExecutionProviderTensorRTV2];
    internal static readonly delegate* unmanaged<nint, void> ReleaseTensorRtProviderOptions = (delegate* unmanaged<nint, void>)Table[SlotReleaseTensorRTProviderOptions];

    // Session
    internal static readonly delegate* unmanaged<nint, byte*, nint, nint*, nint> CreateSession = (delegate* unmanaged<nint, byte*, nint, nint*, nint>)Table[SlotCreateSession];
    internal static readonly delegate* unmanaged<nint, void*, nuint, nint, nint*, nint> CreateSessionFromArray = (delegate* unmanaged<nint, void*, nuint, nint, nint*, nint>)Table[SlotCreateSessionFromArray];
    internal static readonly delegate* unmanaged<nint, void> ReleaseSession = (delegate* unmanaged<nint, void>)Table[SlotReleaseSession];
    internal static readonly delegate* unmanaged<nint, nint, nint*, nint*, nuint, nint*, nuint, nint*, nint> Run = (delegate* unmanaged<nint, nint, nint*, nint*, nuint, nint*, nuint, nint*, nint>)Table[SlotRun];
    internal static readonly delegate* unmanaged<nint, nuint*, nint> SessionGetInputCount = (delegate* unmanaged<nint, nuint*, nint>)Table[SlotSessionGetInputCount];
    internal static readonly delegate* unmanaged<nint, nuint*, nint> SessionGetOutputCount = (delegate* unmanaged<nint, nuint*, nint>)Table[SlotSessionGetOutputCount];
    internal static readonly delegate* unmanaged<nint, nuint, nint, byte**, nint> SessionGetInputName = (delegate* unmanaged<nint, nuint, nint, byte**, nint>)Table[SlotSessionGetInputName];
    internal static readonly delegate* unmanaged<nint, nuint, nint, byte**, nint> SessionGetOutputName = (delegate* unmanaged<nint, nuint, nint, byte**, nint>)Table[SlotSessionGetOutputName];
    internal static readonly delegate* unmanaged<nint, nuint, nint*, nint> SessionGetInputTypeInfo = (delegate* unmanaged<nint, nuint, nint*, nint>)Table[SlotSessionGetInputTypeInfo];
    internal static readonly delegate* unmanaged<nint, nuint, nint*, nint> SessionGetOutputTypeInfo = (delegate* unmanaged<nint, nuint, nint*, nint>)Table[SlotSessionGetOutputTypeInfo];

    // Run options
    internal static readonly delegate* unmanaged<nint*, nint> CreateRunOptions = (delegate* unmanaged<nint*, nint>)Table[SlotCreateRunOptions];
    internal static readonly delegate* unmanaged<nint, nint> RunOptionsSetTerminate = (delegate* unmanaged<nint, nint>)Table[SlotRunOptionsSetTerminate];
    internal static readonly delegate* unmanaged<nint, void> ReleaseRunOptions = (delegate* unmanaged<nint, void>)Table[SlotReleaseRunOptions];

    // Type information
    internal static readonly delegate* unmanaged<nint, nint*, nint> CastTypeInfoToTensorInfo = (delegate* unmanaged<nint, nint*, nint>)Table[SlotCastTypeInfoToTensorInfo];
    internal static readonly delegate* unmanaged<nint, int*, nint> GetOnnxTypeFromTypeInfo = (delegate* unmanaged<nint, int*, nint>)Table[SlotGetOnnxTypeFromTypeInfo];
    internal static readonly delegate* unmanaged<nint, void> ReleaseTypeInfo = (delegate* unmanaged<nint, void>)Table[SlotReleaseTypeInfo];
    internal static readonly delegate* unmanaged<nint, int*, nint> GetTensorElementType = (delegate* unmanaged<nint, int*, nint>)Table[SlotGetTensorElementType];
    internal static readonly delegate* unmanaged<nint, nuint*, nint> GetDimensionsCount = (delegate* unmanaged<nint, nuint*, nint>)Table[SlotGetDimensionsCount];
    internal static readonly delegate* unmanaged<nint, long*, nuint, nint> GetDimensions = (delegate* unmanaged<nint, long*, nuint, nint>)Table[SlotGetDimensions];
    internal static readonly delegate* unmanaged<nint, byte**, nuint, nint> GetSymbolicDimensions = (delegate* unmanaged<nint, byte**, nuint, nint>)Table[SlotGetSymbolicDimensions];
    internal static readonly delegate* unmanaged<nint, nuint*, nint> GetTensorShapeElementCount = (delegate* unmanaged<nint, nuint*, nint>)Table[SlotGetTensorShapeElementCount];
    internal static readonly delegate* unmanaged<nint, void> ReleaseTensorTypeAndShapeInfo = (delegate* unmanaged<nint, void>)Table[SlotReleaseTensorTypeAndShapeInfo];

    // Values
    internal static readonly delegate* unmanaged<nint, void*, nuint, long*, nuint, int, nint*, nint> CreateTensorWithDataAsOrtValue = (delegate* unmanaged<nint, void*, nuint, long*, nuint, int, nint*, nint>)Table[SlotCreateTensorWithDataAsOrtValue];
    internal static readonly delegate* unmanaged<nint, void**, nint> GetTensorMutableData = (delegate* unmanaged<nint, void**, nint>)Table[SlotGetTensorMutableData];
    internal static readonly delegate* unmanaged<nint, nint*, nint> GetTensorTypeAndShape = (delegate* unmanaged<nint, nint*, nint>)Table[SlotGetTensorTypeAndShape];
    internal static readonly delegate* unmanaged<nint, void> ReleaseValue = (delegate* unmanaged<nint, void>)Table[SlotReleaseValue];

    // Memory
    internal static readonly delegate* unmanaged<int, int, nint*, nint> CreateCpuMemoryInfo = (delegate* unmanaged<int, int, nint*, nint>)Table[SlotCreateCpuMemoryInfo];
    internal static readonly delegate* unmanaged<nint*, nint> GetAllocatorWithDefaultOptions = (delegate* unmanaged<nint*, nint>)Table[SlotGetAllocatorWithDefaultOptions];
    internal static readonly delegate* unmanaged<nint, void*, nint> AllocatorFree = (delegate* unmanaged<nint, void*, nint>)Table[SlotAllocatorFree];

    /// <summary>Turns a non-null <c>OrtStatus*</c> into an <see cref="OnnxRuntimeException"/> and releases it.</summary>
    internal static void Check(nint status)
    {
        if (status != 0)
        {
            throw ToException(status);
        }
    }

    /// <summary>Reads and releases a non-null status, returning the typed exception for it.</summary>
    internal static OnnxRuntimeException ToException(nint status)
    {
        var (code, message) = ReadAndRelease(status);
        return new OnnxRuntimeException(code, message);
    }

    /// <summary>Reads a non-null status's code and message, and releases it.</summary>
    internal static (OrtErrorCode Code, string Message) ReadAndRelease(nint status)
    {
        try
        {
            return (GetErrorCode(status), Marshal.PtrToStringUTF8((nint)GetErrorMessage(status)) ?? string.Empty);
        }
        finally
        {
            ReleaseStatus(status);
        }
    }
}
