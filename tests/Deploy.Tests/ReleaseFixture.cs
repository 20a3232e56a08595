using System.Diagnostics;
using System.Text;

namespace EdgeMed.Deploy.Tests;

/// <summary>
/// One self-contained linux-x64 release, published once for all tests with <c>./edgemed.sh publish</c> (a clean build
/// of its own, about two minutes) and unpacked; tests copy it to make other versions.
/// </summary>
public sealed class ReleaseFixture : IDisposable
{
    public const string Version = "1.0.0-test";

    private readonly Lazy<string> _arm64;

    public ReleaseFixture()
    {
        Work = Directory.CreateTempSubdirectory("edgemed-deploy-").FullName;
        Release = Publish("linux-x64");
        Tarball = Path.Combine(Work, "dist", $"edgemed-{Version}-linux-x64.tar.gz");
        _arm64 = new Lazy<string>(() => Publish("linux-arm64"));
    }

    /// <summary>The linux-arm64 release, published and unpacked on first use.</summary>
    public string Arm64Release => _arm64.Value;

    private string Publish(string rid)
    {
        var (code, output) = Run("bash", [Path.Combine(Repository, "edgemed.sh"), "publish", "--rid", rid, "--version", Version, "--out", Path.Combine(Work, "dist")], TimeSpan.FromMinutes(15));
        Assert.True(code == 0, "publish failed:\n" + output);
        Directory.CreateDirectory(Path.Combine(Work, "unpacked"));
        (code, output) = Run("tar", ["-xzf", Path.Combine(Work, "dist", $"edgemed-{Version}-{rid}.tar.gz"), "-C", Path.Combine(Work, "unpacked")], TimeSpan.FromMinutes(2));
        Assert.True(code == 0, output);
        return Path.Combine(Work, "unpacked", $"edgemed-{Version}-{rid}");
    }

    /// <summary>The repository (the folder with edgemed.sh above the test binaries).</summary>
    public static string Repository => EdgeMed.Tests.SharedData.Repository;

    public string Work { get; }

    public string Tarball { get; }

    /// <summary>The unpacked release.</summary>
    public string Release { get; }

    /// <summary>A copy of the release as another version (its VERSION edited), optionally changed further.</summary>
    public string CopyAs(string version, string? rid = null)
    {
        var target = Path.Combine(Work, "copies", $"edgemed-{version}-{rid ?? "linux-x64"}");
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var (code, output) = Run("cp", ["-a", Release, target], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, output);
        var lines = File.ReadAllLines(Path.Combine(target, "VERSION"))
            .Select(l => l.StartsWith("version=", StringComparison.Ordinal) ? "version=" + version : l.StartsWith("rid=", StringComparison.Ordinal) && rid is not null ? "rid=" + rid : l);
        File.WriteAllLines(Path.Combine(target, "VERSION"), lines);
        return target;
    }

    /// <summary>Runs a program to its end; stdout and stderr together.</summary>
    public static (int Code, string Output) Run(string file, IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        if (workingDirectory is not null)
        {
            info.WorkingDirectory = workingDirectory;
        }

        using var process = Process.Start(info)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return (-1, $"{file} did not finish within {timeout}:\n{output}");
        }

        // And its output, but not forever: a daemon it left behind (an MSBuild node) may hold the pipes open.
        process.WaitForExitAsync().Wait(TimeSpan.FromSeconds(30));
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Work, recursive: true);
        }
        catch (IOException)
        {
        }
    }

}

[CollectionDefinition(Name)]
public sealed class ReleaseGroup : ICollectionFixture<ReleaseFixture>
{
    public const string Name = "release";
}
