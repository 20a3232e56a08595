using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMed.Onnx.Runtime;

/// <summary>
/// The one ONNX Runtime environment of the process. ONNX Runtime wants a single <c>OrtEnv</c> that outlives every
/// session; it is created on first use and lives until the process ends. Its log messages go to the logger set by
/// <see cref="UseLogger"/>.
/// </summary>
public static unsafe class OrtEnvironment
{
    private static readonly Lazy<State> Shared = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);
    private static ILogger _logger = NullLogger.Instance;

    /// <summary>Sends ONNX Runtime's own log messages to <paramref name="logger"/> (replacing the previous one).</summary>
    public static void UseLogger(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        Volatile.Write(ref _logger, logger);
    }

    /// <summary>The native library's version, e.g. <c>1.23.2</c>. Loads the library.</summary>
    /// <exception cref="OnnxRuntimeUnavailableException">The native library is missing or unusable.</exception>
    public static string Version => Shared.Value.Version;

    /// <summary>The path the native library was loaded from.</summary>
    public static string LibraryPath => Shared.Value.LibraryPath;

    /// <summary>Execution providers compiled into the native library (e.g. CPUExecutionProvider).</summary>
    public static IReadOnlyList<string> AvailableProviders => Shared.Value.Providers;

    internal static OrtEnvHandle Handle => Shared.Value.Env;

    /// <summary>Memory info for tensors over CPU memory (process lifetime, never released).</summary>
    internal static nint CpuMemoryInfo => Shared.Value.CpuMemoryInfo;

    /// <summary>ONNX Runtime's default allocator (owned by ONNX Runtime, never released).</summary>
    internal static nint DefaultAllocator => Shared.Value.Allocator;

    private static State Create()
    {
        // Load the library first, so a missing one surfaces as OnnxRuntimeUnavailableException rather than a type initializer failure.
        var api = OrtLibrary.Api;
        _ = api;
        var env = new OrtEnvHandle();
        nint raw;
        var logId = "edgemed"u8;
        fixed (byte* id = logId)
        {
            // ORT's VERBOSE=0 … FATAL=4; warnings and worse reach the logger, as ORT's own default.
            OrtNative.Check(OrtNative.CreateEnvWithCustomLogger((nint)(delegate* unmanaged<nint, int, byte*, byte*, byte*, byte*, void>)&OnLog, 0, 2, id, &raw));
        }

        env.Assign(raw);

        nint memoryInfo;
        OrtNative.Check(OrtNative.CreateCpuMemoryInfo(1 /* OrtArenaAllocator */, 0 /* OrtMemTypeDefault */, &memoryInfo));
        nint allocator;
        OrtNative.Check(OrtNative.GetAllocatorWithDefaultOptions(&allocator));
        return new State(env, memoryInfo, allocator, OrtLibrary.Version, OrtLibrary.LoadedPath, ReadProviders());
    }

    private static string[] ReadProviders()
    {
        byte** names;
        int count;
        OrtNative.Check(OrtNative.GetAvailableProviders(&names, &count));
        try
        {
            var providers = new string[count];
            for (var i = 0; i < count; i++)
            {
                providers[i] = Marshal.PtrToStringUTF8((nint)names[i]) ?? string.Empty;
            }

            return providers;
        }
        finally
        {
            OrtNative.Check(OrtNative.ReleaseAvailableProviders(names, count));
        }
    }

    [UnmanagedCallersOnly]
    private static void OnLog(nint param, int severity, byte* category, byte* logId, byte* codeLocation, byte* message)
    {
        // Called on ORT's threads; an exception escaping here would take the process down.
        try
        {
            var logger = Volatile.Read(ref _logger);
            var level = severity switch
            {
                0 => LogLevel.Trace,
                1 => LogLevel.Information,
                2 => LogLevel.Warning,
                3 => LogLevel.Error,
                _ => LogLevel.Critical,
            };
            if (logger.IsEnabled(level))
            {
                var categoryText = Marshal.PtrToStringUTF8((nint)category) ?? string.Empty;
                var messageText = Marshal.PtrToStringUTF8((nint)message) ?? string.Empty;
                Log.OrtMessage(logger, level, categoryText, messageText);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Losing one native log line is better than crashing the process from a callback.
            _ = e;
        }
    }

    private sealed record State(OrtEnvHandle Env, nint CpuMemoryInfo, nint Allocator, string Version, string LibraryPath, string[] Providers);
}

/// <summary>Log messages of the ONNX Runtime binding (event ids 2000–2999).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2000, Message = "ONNX Runtime [{Category}] {OrtMessage}")]
    internal static partial void OrtMessage(ILogger logger, LogLevel level, string category, string ortMessage);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "ONNX session created from {Source} in {ElapsedMs:F1} ms: {InputCount} inputs, {OutputCount} outputs, provider {Provider}, intra-op threads {IntraOpThreads}")]
    internal static partial void SessionCreated(ILogger logger, string source, double elapsedMs, int inputCount, int outputCount, ExecutionProvider provider, int intraOpThreads);
}
