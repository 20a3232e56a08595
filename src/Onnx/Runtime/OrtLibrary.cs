using System.Runtime.InteropServices;

namespace EdgeMed.Onnx.Runtime;

/// <summary>
/// Finds and loads <c>libonnxruntime.so.1</c> for the process architecture and hands out its API table.
/// The library comes from <c>./edgemed.sh setup</c> and sits next to the program as <c>runtimes/&lt;rid&gt;/native/</c>.
/// </summary>
internal static unsafe class OrtLibrary
{
    /// <summary>The C API version this binding was written against (ONNX Runtime 1.23).</summary>
    internal const uint ApiVersion = 23;

    internal const string FileName = "libonnxruntime.so.1";

    /// <summary>Overrides the library path, for deployments that keep ONNX Runtime elsewhere.</summary>
    internal const string PathVariable = "EDGEMED_ONNXRUNTIME_PATH";

    private static readonly Lazy<(nint Api, string Version, string Path)> Loaded = new(LoadDefault, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Pointer to the <c>OrtApi</c> table.</summary>
    internal static nint Api => Loaded.Value.Api;

    /// <summary>The native library's version string, e.g. 1.23.2.</summary>
    internal static string Version => Loaded.Value.Version;

    /// <summary>Where the native library was loaded from.</summary>
    internal static string LoadedPath => Loaded.Value.Path;

    /// <summary>The runtime identifier of the native folder for this process.</summary>
    internal static string RuntimeIdentifier => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => "linux-x64",
        Architecture.Arm64 => "linux-arm64",
        var other => $"linux-{other.ToString().ToLowerInvariant()}",
    };

    internal static string DefaultPath =>
        Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } overridden
            ? overridden
            : Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeIdentifier, "native", FileName);

    private static (nint, string, string) LoadDefault()
    {
        var path = DefaultPath;
        var (api, version) = Load(path);
        return (api, version, path);
    }

    /// <summary>Loads the library at <paramref name="path"/> and returns its API table and version.</summary>
    /// <exception cref="OnnxRuntimeUnavailableException">Missing, unloadable, wrong-architecture or too-old library.</exception>
    internal static (nint Api, string Version) Load(string path)
    {
        const string Fix = "Run ./edgemed.sh setup to fetch the checksum-pinned ONNX Runtime 1.23.2 libraries, or set " + PathVariable + ".";
        if (!File.Exists(path))
        {
            throw new OnnxRuntimeUnavailableException(path, $"ONNX Runtime native library not found at {path}. {Fix}");
        }

        // dlopen's message for a foreign ELF is cryptic ("wrong ELF class" or "cannot open shared object"); say it plainly.
        var fileArchitecture = ReadElfArchitecture(path);
        if (fileArchitecture is { } found && found != RuntimeInformation.ProcessArchitecture)
        {
            throw new OnnxRuntimeUnavailableException(path,
                $"ONNX Runtime native library at {path} is built for {found} but this process is {RuntimeInformation.ProcessArchitecture}. {Fix}");
        }

        if (!NativeLibrary.TryLoad(path, out var handle))
        {
            throw new OnnxRuntimeUnavailableException(path, $"ONNX Runtime native library at {path} could not be loaded (not a shared library for this system?). {Fix}");
        }

        if (!NativeLibrary.TryGetExport(handle, "OrtGetApiBase", out var getApiBase))
        {
            throw new OnnxRuntimeUnavailableException(path, $"{path} does not export OrtGetApiBase: it is not ONNX Runtime. {Fix}");
        }

        // struct OrtApiBase { const OrtApi* (*GetApi)(uint32_t); const char* (*GetVersionString)(void); }
        var apiBase = ((delegate* unmanaged<nint*>)getApiBase)();
        var version = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)apiBase[1])()) ?? "unknown";
        var api = ((delegate* unmanaged<uint, nint>)apiBase[0])(ApiVersion);
        if (api == 0)
        {
            throw new OnnxRuntimeUnavailableException(path, $"ONNX Runtime {version} at {path} does not offer C API version {ApiVersion} (needs 1.23 or newer). {Fix}");
        }

        return (api, version);
    }

    /// <summary>The machine an ELF file is built for, or null when the file is not ELF or the machine is one we do not name.</summary>
    internal static Architecture? ReadElfArchitecture(string path)
    {
        Span<byte> header = stackalloc byte[20];
        using (var stream = File.OpenRead(path))
        {
            if (stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length)
            {
                return null;
            }
        }

        if (header[0] != 0x7F || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F')
        {
            return null;
        }

        // e_machine at offset 18, in the file's byte order (EI_DATA: 1 little, 2 big endian).
        var machine = header[5] == 2 ? (header[18] << 8) | header[19] : header[18] | (header[19] << 8);
        return machine switch
        {
            0x3E => Architecture.X64,
            0xB7 => Architecture.Arm64,
            0x28 => Architecture.Arm,
            0x03 => Architecture.X86,
            _ => null,
        };
    }
}
