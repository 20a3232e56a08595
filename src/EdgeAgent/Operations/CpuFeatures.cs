using System.Runtime.InteropServices;

namespace EdgeMed.EdgeAgent.Operations;

/// <summary>
/// Whether the CPU has the int8 dot-product instructions ONNX Runtime's quantized kernels use: Arm's <c>asimddp</c>
/// (a Raspberry Pi 5's Cortex-A76 and Jetson Orin's A78 have it, a Pi 4's Cortex-A72 does not) or x86 VNNI. Without
/// them an int8 model may be no faster than fp32, which is what <see cref="Configuration.AgentOptions.Precision"/> is for.
/// </summary>
public sealed record CpuFeatures(Architecture Architecture, bool Int8DotProduct, string Instructions)
{
    private static readonly string[] ArmDotProduct = ["asimddp"];
    private static readonly string[] X86DotProduct = ["avx512_vnni", "avx_vnni", "amx_int8"];

    /// <summary>This machine's, from <c>/proc/cpuinfo</c> (unknown when it cannot be read).</summary>
    public static CpuFeatures OfThisMachine()
    {
        string text;
        try
        {
            text = File.ReadAllText("/proc/cpuinfo");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            text = string.Empty;
        }

        return Parse(RuntimeInformation.ProcessArchitecture, text);
    }

    /// <summary>From the text of <c>/proc/cpuinfo</c>: the first <c>Features</c> (Arm) or <c>flags</c> (x86) line.</summary>
    public static CpuFeatures Parse(Architecture architecture, string cpuinfo)
    {
        ArgumentNullException.ThrowIfNull(cpuinfo);
        var key = architecture is Architecture.Arm64 or Architecture.Arm ? "Features" : "flags";
        var wanted = architecture is Architecture.Arm64 or Architecture.Arm ? ArmDotProduct : X86DotProduct;
        foreach (var line in cpuinfo.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || !string.Equals(line[..colon].Trim(), key, StringComparison.Ordinal))
            {
                continue;
            }

            var flags = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var found = wanted.Where(flags.Contains).ToArray();
            return new CpuFeatures(architecture, found.Length > 0, found.Length > 0 ? string.Join(' ', found) : "none of " + string.Join(", ", wanted));
        }

        return new CpuFeatures(architecture, false, "unknown (no " + key + " line in /proc/cpuinfo)");
    }
}
