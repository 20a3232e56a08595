using System.Diagnostics;

namespace EdgeMed.TrainerHost.Tests;

/// <summary>Runs the trainer and the worker as real processes, with the shared data beside the repository.</summary>
internal static class Trainer
{
    public static string Alzheimer => SharedData.Alzheimer;

    public static string WorkerScript => Path.Combine(AppContext.BaseDirectory, "worker", "edgemed_worker.py");

    /// <summary>A small balanced subset: <paramref name="perClass"/> images of each of the four classes.</summary>
    public static string Subset(int perClass) => $"MildDemented={perClass},ModerateDemented={perClass},NonDemented={perClass},VeryMildDemented={perClass}";

    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(IEnumerable<string> args, Action<Process>? whileRunning = null, int timeoutSeconds = 600, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "EdgeMed.TrainerHost")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["CI"] = "true";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        whileRunning?.Invoke(process);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"trainer did not finish in {timeoutSeconds} s: {await output}");
        }

        return (process.ExitCode, await output, await error);
    }

    /// <summary>Runs Python code with the worker module importable; returns stdout.</summary>
    public static async Task<string> PythonAsync(string code)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"import sys; sys.path.insert(0, {Quote(Path.GetDirectoryName(WorkerScript)!)})\n{code}");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await error);
        return await output;
    }

    private static string Quote(string text) => "'" + text.Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
