using System.Globalization;

namespace EdgeMed.Deploy.Tests;

/// <summary>
/// The linux-arm64 release runs: under qemu-aarch64 with a sysroot of Debian's arm64 libraries (eng/arm64-emulation.sh,
/// which also lets the agent start its arm64 decoder child through binfmt_misc), it classifies the labeled sample
/// series like the x64 release does. It runs through the script's <c>run</c> wrapper, which shows it an arm64
/// /proc/cpuinfo: with the x86 host's, ONNX Runtime's CPU detection crashed on some hosts (regression test for the
/// SIGSEGV CI hit on 2026-12-03).
/// </summary>
[Collection(ReleaseGroup.Name)]
public sealed class Arm64Tests(ReleaseFixture release)
{
    // int8 kernels differ between x86 (VNNI) and Arm: measured 0.0014 at most over the 69 sample slices.
    private const double Tolerance = 0.01;

    private static readonly string[] Series = ["alzheimer-milddemented", "alzheimer-nondemented", "alzheimer-verymilddemented"];

    [Fact]
    public void Arm64Agent_UnderQemu_ClassifiesTheSamplesLikeTheX64Agent()
    {
        var (code, output) = ReleaseFixture.Run("bash", [Path.Combine(ReleaseFixture.Repository, "eng", "arm64-emulation.sh")], TimeSpan.FromMinutes(10));
        Assert.True(code == 0, output);
        var sysroot = output.Trim().Split('\n')[^1];
        var emulated = Path.Combine(Path.GetDirectoryName(sysroot)!, "run");

        var arm64 = Classify(release.Arm64Release, Path.Combine(sysroot, "usr/lib/cli/gdcm-sharp-3.0/libgdcmsharpglue.so"), new Dictionary<string, string> { ["QEMU_LD_PREFIX"] = sysroot }, emulated);
        var x64 = Classify(release.CopyAs("1.0.0-x64-compare"), "/usr/lib/cli/gdcm-sharp-3.0/libgdcmsharpglue.so", new Dictionary<string, string>());

        Assert.Equal(18, x64.Count);
        Assert.Equal(x64.Keys.Order(StringComparer.Ordinal), arm64.Keys.Order(StringComparer.Ordinal));
        foreach (var (slice, (label, probabilities)) in x64)
        {
            Assert.Equal(label, arm64[slice].Class);
            for (var c = 0; c < probabilities.Length; c++)
            {
                Assert.True(Math.Abs(probabilities[c] - arm64[slice].Probabilities[c]) <= Tolerance, $"{slice} class {c}: x64 {probabilities[c]}, arm64 {arm64[slice].Probabilities[c]}");
            }
        }
    }

    /// <summary>`agent classify --format csv` of the sample series by a release (its GDCM glue added, as install.sh does), through <paramref name="runner"/> when given.</summary>
    private static Dictionary<string, (string Class, double[] Probabilities)> Classify(string releaseFolder, string glue, Dictionary<string, string> environment, string? runner = null)
    {
        var app = Path.Combine(releaseFolder, "app");
        File.Copy(glue, Path.Combine(app, "libgdcmsharpglue.so"), overwrite: true);
        var work = Directory.CreateTempSubdirectory("edgemed-classify-").FullName;
        try
        {
            environment["PATH"] = "/usr/bin:/bin";
            string[] args = ["classify", .. Series.Select(s => Path.Combine(ReleaseFixture.Repository, "samples", s)), "--models", Path.Combine(releaseFolder, "models"), "--db", Path.Combine(work, "edgemed.db"), "--format", "csv"];
            var agent = Path.Combine(app, "EdgeMed.EdgeAgent");
            var (code, output) = runner is null
                ? ReleaseFixture.Run(agent, args, TimeSpan.FromMinutes(10), environment, work)
                : ReleaseFixture.Run(runner, [agent, .. args], TimeSpan.FromMinutes(10), environment, work);
            Assert.True(code == 0, output);
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains(".dcm,", StringComparison.Ordinal) || l.StartsWith("path,", StringComparison.Ordinal)).ToList();
            var header = lines[0].Split(',');
            int Column(string name) => Array.IndexOf(header, name);
            string[] classes = ["MildDemented", "ModerateDemented", "NonDemented", "VeryMildDemented"];
            return lines.Skip(1).Select(l => l.Split(',')).ToDictionary(
                cells => cells[Column("sop_instance_uid")] + "/" + cells[Column("frame")],
                cells => (cells[Column("predicted_class")], classes.Select(c => double.Parse(cells[Column(c)], CultureInfo.InvariantCulture)).ToArray()));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
