using System.Diagnostics;
using System.Text.Json;
using EdgeMed.TrainerHost.Interop;

namespace EdgeMed.TrainerHost.Training;

/// <summary>
/// The PyTorch worker (<c>/usr/bin/python3 edgemed_worker.py</c>) as a child process: events arrive as JSON lines on
/// its stdout; its stderr is kept in the run's <c>worker.log</c>. Cancelling sends SIGTERM (the worker saves nothing
/// mid-epoch; the last epoch's checkpoint stays for --resume), then SIGKILL if it lingers.
/// </summary>
internal static class WorkerProcess
{
    /// <summary>Debian's interpreter, which has python3-torch; the first python3 on PATH may be another one.</summary>
    public const string Python = "/usr/bin/python3";

    public static string ScriptPath => Path.Combine(AppContext.BaseDirectory, "worker", "edgemed_worker.py");

    /// <summary>Runs the worker with <paramref name="arguments"/>; returns its exit code and the last error event's message.</summary>
    public static async Task<(int ExitCode, string? Error)> RunAsync(IEnumerable<string> arguments, string logPath, Action<JsonElement> onEvent, CancellationToken cancellationToken)
    {
        if (!File.Exists(Python))
        {
            throw new TrainingInputException($"{Python} not found: run ./edgemed.sh setup (it installs python3-torch and python3-torchvision).");
        }

        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-u");
        start.ArgumentList.Add("-s"); // no ~/.local packages: a pip --user torch must not replace Debian's
        start.ArgumentList.Add(ScriptPath);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["PYTHONUNBUFFERED"] = "1";
        start.Environment["PYTHONNOUSERSITE"] = "1";
        start.Environment.Remove("PYTHONPATH");
        // Debian's PyTorch uses OpenBLAS; keep its own pool from fighting torch's intra-op threads.
        start.Environment["OPENBLAS_NUM_THREADS"] = "1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("The worker did not start.");
        await using var log = new StreamWriter(logPath, append: true);
        var logLock = new Lock();
        void Log(string text)
        {
            lock (logLock)
            {
                log.WriteLine(text);
            }
        }

        var stderr = PumpAsync(process.StandardError, Log);
        string? error = null;
        using var registration = cancellationToken.Register(() => Terminate(process));
        string? line;
        while ((line = await process.StandardOutput.ReadLineAsync(CancellationToken.None).ConfigureAwait(false)) is not null)
        {
            JsonDocument document;
            try
            {
                document = line.StartsWith('{') ? JsonDocument.Parse(line) : throw new JsonException();
            }
            catch (JsonException)
            {
                Log(line); // not an event: something a library printed
                continue;
            }

            using var parsed = document;
            var root = parsed.RootElement;
            if (root.TryGetProperty("event", out var kind) && kind.GetString() == "error")
            {
                error = root.GetProperty("message").GetString();
            }

            onEvent(root.Clone());
        }

        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        await stderr.ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return (process.ExitCode, error);
    }

    private static async Task PumpAsync(StreamReader reader, Action<string> sink)
    {
        string? line;
        while ((line = await reader.ReadLineAsync().ConfigureAwait(false)) is not null)
        {
            sink(line);
        }
    }

    private static void Terminate(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                _ = LibC.Kill(process.Id, LibC.SigTerm); // SIGTERM: the worker raises KeyboardInterrupt and reports "interrupted"
                if (!process.WaitForExit(10_000))
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }
}
