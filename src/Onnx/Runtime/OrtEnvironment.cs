using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Ort = Microsoft.ML.OnnxRuntime;

namespace EdgeMed.Onnx.Runtime;

/// <summary>
/// The one ONNX Runtime environment of the process (Microsoft.ML.OnnxRuntime's <c>OrtEnv</c>), created on first use
/// with our log callback, so ONNX Runtime's own messages go to the logger set by <see cref="UseLogger"/>.
/// </summary>
public static class OrtEnvironment
{
    private static readonly Lazy<State> Shared = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    // ORT keeps only a function pointer: the delegate must live as long as the environment (the process).
    private static readonly Ort.DOrtLoggingFunction LogCallback = OnLog;

    private static ILogger _logger = NullLogger.Instance;

    /// <summary>Sends ONNX Runtime's own log messages to <paramref name="logger"/> (replacing the previous one).</summary>
    public static void UseLogger(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        Volatile.Write(ref _logger, logger);
    }

    /// <summary>The native library's version, e.g. <c>1.31.1</c>. Loads the library.</summary>
    /// <exception cref="OnnxRuntimeUnavailableException">The native library is missing or unusable.</exception>
    public static string Version => Shared.Value.Version;

    /// <summary>The path the native library was loaded from (as the process maps it).</summary>
    public static string LibraryPath => Shared.Value.LibraryPath;

    /// <summary>Execution providers compiled into the native library (e.g. CPUExecutionProvider).</summary>
    public static IReadOnlyList<string> AvailableProviders => Shared.Value.Providers;

    /// <summary>Makes sure the environment exists before a session is created (ORT would otherwise create a default one without our logger).</summary>
    internal static void EnsureCreated() => _ = Shared.Value;

    private static State Create()
    {
        try
        {
            // Warnings and worse reach the logger, as ORT's own default.
            var options = new Ort.EnvironmentCreationOptions { logId = "edgemed", logLevel = Ort.OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING, loggingFunction = LogCallback };
            var env = Ort.OrtEnv.CreateInstanceWithOptions(ref options);
            return new State(env.GetVersionString(), MappedLibraryPath(), env.GetAvailableProviders());
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or BadImageFormatException)
        {
            var expected = Path.Combine(AppContext.BaseDirectory, "runtimes", $"linux-{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()}", "native", "libonnxruntime.so");
            throw new OnnxRuntimeUnavailableException(expected,
                $"The ONNX Runtime native library could not be loaded ({e.GetBaseException().Message}). It ships in the Microsoft.ML.OnnxRuntime package: rebuild with ./edgemed.sh, or reinstall the release for this architecture.", e);
        }
    }

    /// <summary>Where libonnxruntime is mapped in this process; the package's resolver picks it, so ask the kernel.</summary>
    private static string MappedLibraryPath()
    {
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var at = line.IndexOf('/', StringComparison.Ordinal);
            if (at > 0 && line.AsSpan(at).Contains("libonnxruntime.so", StringComparison.Ordinal))
            {
                return line[at..];
            }
        }

        return string.Empty;
    }

    private static void OnLog(nint param, Ort.OrtLoggingLevel severity, string category, string logId, string codeLocation, string message)
    {
        // Called on ORT's threads; an exception escaping here would take the process down.
        try
        {
            var logger = Volatile.Read(ref _logger);
            var level = severity switch
            {
                Ort.OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE => LogLevel.Trace,
                Ort.OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO => LogLevel.Information,
                Ort.OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING => LogLevel.Warning,
                Ort.OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR => LogLevel.Error,
                _ => LogLevel.Critical,
            };
            if (logger.IsEnabled(level))
            {
                Log.OrtMessage(logger, level, category ?? string.Empty, message ?? string.Empty);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Losing one native log line is better than crashing the process from a callback.
            _ = e;
        }
    }

    private sealed record State(string Version, string LibraryPath, string[] Providers);
}

/// <summary>Log messages of the ONNX Runtime layer (event ids 2000–2999).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2000, Message = "ONNX Runtime [{Category}] {OrtMessage}")]
    internal static partial void OrtMessage(ILogger logger, LogLevel level, string category, string ortMessage);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "ONNX session created from {Source} in {ElapsedMs:F1} ms: {InputCount} inputs, {OutputCount} outputs, provider {Provider}, intra-op threads {IntraOpThreads}")]
    internal static partial void SessionCreated(ILogger logger, string source, double elapsedMs, int inputCount, int outputCount, ExecutionProvider provider, int intraOpThreads);
}
