using System.Diagnostics;
using System.Reflection;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMed.DicomIngest.Decoding;

/// <summary>
/// A long-lived pixel decoder in a separate process. One request at a time; a worker that dies (GDCM aborting on a
/// file, say) costs that one file, reported as <see cref="IngestFailure.DecoderCrashed"/>, and is restarted on the
/// next request. A decode that outlasts the timeout kills the worker and is reported as
/// <see cref="IngestFailure.DecoderTimeout"/>.
/// </summary>
internal sealed class DecoderProcess(TimeSpan timeout, ILogger? logger = null) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private Process? _process;
    private string _lastStderr = string.Empty;
    private bool _disposed;

    /// <summary>How many workers have been started (1 plus restarts).</summary>
    public int Starts { get; private set; }

    /// <summary>Process id of the current worker, or null when none runs.</summary>
    public int? WorkerProcessId => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>Decodes a file's bytes in the worker.</summary>
    public async Task<DecodedPixels> DecodeAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var process = EnsureStarted();
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            try
            {
                await WriteRequestAsync(process.StandardInput.BaseStream, content, deadline.Token).ConfigureAwait(false);
                return await ReadReplyAsync(process.StandardOutput.BaseStream, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                Stop(process);
                Log.DecoderTimedOut(_logger, timeout.TotalSeconds);
                throw new DicomIngestException(IngestFailure.DecoderTimeout, $"The decoder did not finish within {timeout.TotalSeconds:F0} s; it was restarted.");
            }
            catch (OperationCanceledException)
            {
                // The caller gave up: the worker may be mid-decode, so replace it rather than read a stale reply later.
                Stop(process);
                throw;
            }
            catch (Exception e) when (e is EndOfStreamException or IOException)
            {
                var exit = WaitForExit(process);
                Stop(process);
                Log.DecoderCrashed(_logger, exit, _lastStderr);
                throw new DicomIngestException(IngestFailure.DecoderCrashed, $"The decoder process died on this file ({exit}){(_lastStderr.Length > 0 ? ": " + _lastStderr : string.Empty)}.", e);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops the worker. Idempotent; decodes waiting for the gate then fail with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        // The semaphore itself is never disposed: waiters must be able to enter, see _disposed and release it.
        _gate.Wait();
        try
        {
            _disposed = true;
            if (_process is { } process)
            {
                try
                {
                    process.StandardInput.Close(); // a clean exit for the worker
                    if (!process.WaitForExit(2000))
                    {
                        process.Kill();
                    }
                }
                catch (Exception e) when (e is InvalidOperationException or IOException)
                {
                    _ = e;
                }

                process.Dispose();
                _process = null;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private Process EnsureStarted()
    {
        if (_process is { HasExited: false } running)
        {
            return running;
        }

        _process?.Dispose();
        var start = WorkerStartInfo();
        var process = Process.Start(start) ?? throw new InvalidOperationException("The decoder process did not start.");
        process.ErrorDataReceived += (_, e) =>
        {
            if (!string.IsNullOrWhiteSpace(e.Data))
            {
                _lastStderr = e.Data.Length > 300 ? e.Data[..300] : e.Data;
            }
        };
        process.BeginErrorReadLine();
        _lastStderr = string.Empty;
        _process = process;
        Starts++;
        Log.DecoderStarted(_logger, process.Id, Starts);
        return process;
    }

    /// <summary>
    /// The worker is this program itself when its entry assembly is a <see cref="DecoderWorkerHostAttribute"/> (the
    /// agent), else this assembly run with <c>decode-worker</c>: its apphost when present, else <c>dotnet exec</c>.
    /// </summary>
    internal static ProcessStartInfo WorkerStartInfo()
    {
        var assembly = typeof(DecoderProcess).Assembly.Location;
        var folder = Path.GetDirectoryName(assembly)!;
        var apphost = Path.Combine(folder, Path.GetFileNameWithoutExtension(assembly));
        var runtimeConfig = Path.ChangeExtension(assembly, ".runtimeconfig.json");
        var entry = Assembly.GetEntryAssembly();
        ProcessStartInfo start;
        if (entry?.GetCustomAttribute<DecoderWorkerHostAttribute>() is not null && Environment.ProcessPath is { } self
            && string.Equals(Path.GetFileName(self), entry.GetName().Name, StringComparison.Ordinal))
        {
            start = new ProcessStartInfo(self);
        }
        else if (File.Exists(apphost) && File.Exists(runtimeConfig))
        {
            start = new ProcessStartInfo(apphost);
        }
        else
        {
            start = new ProcessStartInfo(DotnetHost());
            start.ArgumentList.Add("exec");
            if (File.Exists(runtimeConfig))
            {
                start.ArgumentList.Add("--runtimeconfig");
                start.ArgumentList.Add(runtimeConfig);
            }

            start.ArgumentList.Add(assembly);
        }

        start.ArgumentList.Add(DecoderWorker.Command);
        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        start.WorkingDirectory = folder;
        // A small, quiet runtime for a helper that handles one file at a time.
        start.Environment["DOTNET_TieredPGO"] = "0";
        start.Environment["DOTNET_gcServer"] = "0";
        start.Environment["DOTNET_GCHeapHardLimit"] = null;
        return start;
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self
        : "dotnet";

    private static async Task WriteRequestAsync(Stream input, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var length = new byte[4];
        BitConverter.TryWriteBytes(length, content.Length);
        await input.WriteAsync(length, cancellationToken).ConfigureAwait(false);
        await input.WriteAsync(content, cancellationToken).ConfigureAwait(false);
        await input.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<DecodedPixels> ReadReplyAsync(Stream output, CancellationToken cancellationToken)
    {
        var status = (await ReadExactlyAsync(output, 1, cancellationToken).ConfigureAwait(false))[0];
        if (status != 0)
        {
            var message = Encoding.UTF8.GetString(await ReadBlockAsync(output, 64 * 1024, cancellationToken).ConfigureAwait(false));
            throw new DicomIngestException(IngestFailure.DecodeFailed, message);
        }

        var header = await ReadExactlyAsync(output, 8 * 4, cancellationToken).ConfigureAwait(false);
        int Field(int i) => BitConverter.ToInt32(header, i * 4);
        var photometric = Encoding.ASCII.GetString(await ReadBlockAsync(output, 64, cancellationToken).ConfigureAwait(false));
        var buffer = await ReadBlockAsync(output, int.MaxValue, cancellationToken).ConfigureAwait(false);
        return new DecodedPixels(Field(0), Field(1), Field(2), Field(3), Field(4), Field(5), Field(6), photometric, Field(7), buffer);
    }

    private static async Task<byte[]> ReadBlockAsync(Stream stream, int maxLength, CancellationToken cancellationToken)
    {
        var length = BitConverter.ToInt32(await ReadExactlyAsync(stream, 4, cancellationToken).ConfigureAwait(false));
        if (length < 0 || length > maxLength)
        {
            throw new IOException($"The decoder sent a block of {length} bytes.");
        }

        return await ReadExactlyAsync(stream, length, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<byte[]> ReadExactlyAsync(Stream stream, int count, CancellationToken cancellationToken)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer;
    }

    private static string WaitForExit(Process process)
    {
        if (!process.WaitForExit(2000))
        {
            return "still running, killed";
        }

        process.WaitForExit(); // drains the stderr reader, so the last line is in
        var code = process.ExitCode;
        return code > 128 ? $"signal {code - 128}{(code - 128 == 6 ? " SIGABRT" : code - 128 == 11 ? " SIGSEGV" : code - 128 == 9 ? " SIGKILL" : string.Empty)}" : $"exit code {code}";
    }

    private void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit(2000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        process.Dispose();
        _process = null;
    }
}
