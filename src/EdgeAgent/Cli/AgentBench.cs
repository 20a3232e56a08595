using System.Collections;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using EdgeMed.DicomIngest;
using EdgeMed.DicomIngest.Slices;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Models;

namespace EdgeMed.EdgeAgent.Cli;

/// <summary>
/// <c>agent bench</c>: the agent's measured claims, side by side in one run. Rounds alternate bare inference (the same
/// model, batch and threads, slices normalized beforehand) with the whole pipeline (hash, ledger, decoder process,
/// normalize, infer, store) over the same files into a fresh database; then start-to-READY of the real service
/// process, and this process's resident memory with the model loaded. The read stage and normalization are also timed
/// alone, so the pipeline's overhead can be set against what its parts cost. With a profile file, one more bare round runs
/// under ONNX Runtime's profiler and its time per operator type is printed (the trace is kept for a closer look).
/// </summary>
internal static class AgentBench
{
    public static async Task<int> RunAsync(string input, string models, int rounds, int threads, int batch, string? profile, TextWriter output, CancellationToken cancellationToken)
    {
        // EDGEMED__USEMEMORYARENA=false and EDGEMED__PREPACKWEIGHTS=false measure the low-memory settings; bare
        // inference, the pipeline and the service started for start-to-READY all get them explicitly, so a setting
        // in /etc/edgemed/appsettings.json cannot make the three measure different things.
        var arena = !IsOff("EDGEMED__USEMEMORYARENA");
        var prepack = !IsOff("EDGEMED__PREPACKWEIGHTS");
        var options = new AgentOptions { IntraOpThreads = threads, BatchSize = batch, UseMemoryArena = arena, PrepackWeights = prepack };
        var work = Directory.CreateTempSubdirectory("edgemed-bench-").FullName;
        try
        {
            var files = Directory.GetFiles(Path.GetFullPath(input), "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.') && !f.EndsWith(".md", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
            // The package the agent itself would pick from that folder (newest valid by created_at).
            var package = NewestPackage(models, options, work);
            // The slices bare inference runs over: the same axial slices the pipeline classifies.
            // Read twice: the second pass, with the decoder process started and warm, is the read stage's own cost.
            var slices = new List<Slice>();
            var readMs = 0.0;
            using (var reader = new DicomReader())
            {
                for (var pass = 0; pass < 2; pass++)
                {
                    slices.Clear();
                    var readClock = Stopwatch.StartNew();
                    foreach (var file in files)
                    {
                        try
                        {
                            slices.AddRange((await reader.ReadAsync(file, cancellationToken).ConfigureAwait(false)).Slices.Where(s => s.Plane == SlicePlane.Axial));
                        }
                        catch (DicomIngestException)
                        {
                        }
                    }

                    readMs = readClock.Elapsed.TotalMilliseconds;
                }
            }

            var model = ModelCatalog.Load(package, options);
            var length = model.Normalizer.OutputLength;
            var normalized = new float[slices.Count * length];
            var normalizeMs = 0.0;
            for (var pass = 0; pass < 2; pass++)
            {
                var normalizeClock = Stopwatch.StartNew();
                for (var i = 0; i < slices.Count; i++)
                {
                    model.Normalizer.Normalize(slices[i], normalized.AsSpan(i * length, length));
                }

                normalizeMs = normalizeClock.Elapsed.TotalMilliseconds; // the second pass: jitted
            }

            await output.WriteLineAsync($"bench: {files.Count} files, {slices.Count} axial slices, model {model.Identity.Name} ({model.Package.Manifest.Precision}), batch {batch}, {threads} intra-op threads, memory arena {(arena ? "on" : "off")}, weights pre-packed {(prepack ? "yes" : "no")}, {rounds} rounds").ConfigureAwait(false);
            var bare = new List<double>();
            var pipeline = new List<double>();
            var decoderMemory = "not started";
            var latency = new List<double>();
            double RunBare(LoadedModel m)
            {
                var clock = Stopwatch.StartNew();
                for (var start = 0; start < slices.Count; start += batch)
                {
                    var count = Math.Min(batch, slices.Count - start);
                    for (var b = 0; b < count; b++)
                    {
                        normalized.AsSpan((start + b) * length, length).CopyTo(m.Runner.Sample(b));
                    }

                    _ = m.Run(count, cancellationToken);
                }

                return slices.Count / clock.Elapsed.TotalSeconds;
            }

            for (var round = 0; round < rounds; round++)
            {
                var clock = Stopwatch.StartNew();
                bare.Add(RunBare(model));

                var database = Path.Combine(work, $"round-{round}.db");
                using var host = AgentHost.Build(AgentMode.Classify, null, new Dictionary<string, string?>
                {
                    ["EdgeMed:Database"] = database, ["EdgeMed:Models"] = package, ["EdgeMed:IntraOpThreads"] = threads.ToString(CultureInfo.InvariantCulture),
                    ["EdgeMed:BatchSize"] = batch.ToString(CultureInfo.InvariantCulture), ["Logging:LogLevel:Default"] = "Warning",
                    ["EdgeMed:UseMemoryArena"] = arena ? "true" : "false", ["EdgeMed:PrepackWeights"] = prepack ? "true" : "false",
                });
                var catalog = host.Services.GetService(typeof(ModelCatalog)) as ModelCatalog;
                catalog!.Scan(); // model load and warm-up are not part of the throughput
                // Nor is the decoder process's start: the service's lives as long as the service (start-up is the
                // "start to READY" figure). One read outside the clock starts it.
                await WarmDecoderAsync(host, files, cancellationToken).ConfigureAwait(false);
                clock.Restart();
                var exit = await AgentCommands.ClassifyAsync(host, files.ToArray(), "csv", TextWriter.Null, TextWriter.Null, cancellationToken).ConfigureAwait(false);
                var seconds = clock.Elapsed.TotalSeconds;
                if (host.Services.GetService(typeof(DicomReader)) is DicomReader { DecoderProcessId: { } decoder })
                {
                    decoderMemory = Memory(decoder.ToString(CultureInfo.InvariantCulture)); // before the host ends it
                }

                var stored = host.Services.GetService(typeof(Ledger.AgentDatabase)) is Ledger.AgentDatabase db ? db.Results.CountSlices() : (long?)null;
                pipeline.Add(Convert.ToInt64(stored, CultureInfo.InvariantCulture) / seconds);
                latency.Add(seconds * 1000 / slices.Count);
                await output.WriteLineAsync(FormattableString.Invariant($"  round {round + 1}: bare {bare[^1]:F2} slices/s, pipeline {pipeline[^1]:F2} slices/s ({stored} stored, exit {exit}), ratio {pipeline[^1] / bare[^1]:F3}")).ConfigureAwait(false);
            }

            var rss = Memory();

            var ready = new List<double>();
            var serviceMemory = string.Empty;
            for (var i = 0; i < 3; i++)
            {
                var (seconds, memory) = await StartToReadyAsync(work, package, options, cancellationToken).ConfigureAwait(false);
                ready.Add(seconds);
                serviceMemory = memory;
            }

            double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);
            await output.WriteLineAsync(FormattableString.Invariant($"""
                bare inference     {Median(bare):F2} slices/s (median)
                pipeline           {Median(pipeline):F2} slices/s (median), {Median(latency):F1} ms per slice end to end
                pipeline / bare    {Median(pipeline) / Median(bare):F3} (overhead {(1 - (Median(pipeline) / Median(bare))) * 100:F1} %; goal ≤ 15 %)
                read and decode    {readMs / slices.Count:F2} ms per slice, {readMs / files.Count:F2} ms per file (alone: file read, header, decoder process; before the rounds)
                normalize          {normalizeMs / slices.Count:F3} ms per slice (alone)
                service memory     {serviceMemory} (the service process 2 s after READY: model loaded and warmed up, idle)
                bench memory       {rss} (this process: two sessions of the model, {rounds} pipeline runs; decoder process separate)
                decoder memory     {decoderMemory} (the decoder process after the last pipeline run: GDCM and the largest file it decoded)
                start to READY     {string.Join(", ", ready.Select(r => $"{r:F2}"))} s (goal ≤ 3 s)
                """)).ConfigureAwait(false);
            if (profile is not null)
            {
                await ProfileAsync(package, options, slices.Count, RunBare, profile, work, output).ConfigureAwait(false);
            }

            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>One more bare round on a session with ONNX Runtime's profiler on; prints time per operator type.</summary>
    private static async Task ProfileAsync(string package, AgentOptions options, int slices, Func<LoadedModel, double> runBare, string profile, string work, TextWriter output)
    {
        options.OnnxProfilePrefix = Path.Combine(work, "profile");
        var optimized = Path.ChangeExtension(profile, ".optimized.onnx");
        options.OnnxOptimizedModelPath = optimized;
        var model = ModelCatalog.Load(package, options);
        string trace;
        try
        {
            runBare(model);
            trace = model.Runner.Session.EndProfiling();
        }
        finally
        {
            model.Release();
            options.OnnxProfilePrefix = null;
            options.OnnxOptimizedModelPath = null;
        }

        File.Copy(trace, profile, overwrite: true);
        var p = Onnx.Runtime.OperatorProfile.Read(trace, skipRuns: 1); // the load's warm-up run
        if (p.Runs == 0)
        {
            await output.WriteLineAsync($"profile            no run after the warm-up was recorded; trace {profile}").ConfigureAwait(false);
            return;
        }

        var lines = new StringBuilder();
        lines.AppendLine(FormattableString.Invariant($"profile            {p.Runs} runs after the warm-up, {p.RunMilliseconds / slices:F2} ms per slice (profiler on); trace {profile}"));
        lines.AppendLine("  op type                    nodes   ms/slice   share");
        foreach (var o in p.Operators)
        {
            lines.AppendLine(FormattableString.Invariant($"  {o.OpType,-24} {o.Nodes,7} {o.Milliseconds / slices,10:F3} {o.Milliseconds / p.RunMilliseconds,7:P1}"));
        }

        var rest = p.RunMilliseconds - p.KernelMilliseconds;
        lines.AppendLine(FormattableString.Invariant($"  {"(between kernels)",-24} {"",7} {rest / slices,10:F3} {rest / p.RunMilliseconds,7:P1}"));
        // What the optimizer made of the graph: which fusions fired (the profile names only the kernels that ran).
        var before = CountNodes(Onnx.Model.OnnxModelFile.Load(Path.Combine(package, Packages.ModelPackage.ModelFile)));
        var after = CountNodes(Onnx.Model.OnnxModelFile.Load(optimized));
        lines.AppendLine(FormattableString.Invariant($"graph              {before.Values.Sum()} nodes in the package, {after.Values.Sum()} as ONNX Runtime runs it (saved: {optimized})"));
        lines.Append("  op type                  package   optimized");
        foreach (var op in before.Keys.Union(after.Keys).OrderByDescending(k => Math.Max(before.GetValueOrDefault(k), after.GetValueOrDefault(k))).ThenBy(k => k, StringComparer.Ordinal))
        {
            lines.AppendLine().Append(FormattableString.Invariant($"  {op,-24} {before.GetValueOrDefault(op),7} {after.GetValueOrDefault(op),11}"));
        }

        await output.WriteLineAsync(lines.ToString()).ConfigureAwait(false);
    }

    private static Dictionary<string, int> CountNodes(global::Onnx.ModelProto model) =>
        model.Graph.Node.GroupBy(n => n.OpType, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    private static async Task WarmDecoderAsync(Microsoft.Extensions.Hosting.IHost host, List<string> files, CancellationToken cancellationToken)
    {
        var reader = (DicomReader)host.Services.GetService(typeof(DicomReader))!;
        foreach (var file in files)
        {
            try
            {
                await reader.ReadAsync(file, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (DicomIngestException)
            {
                // not an image: the next one
            }
        }
    }

    private static string NewestPackage(string models, AgentOptions options, string work)
    {
        using var database = Ledger.AgentDatabase.Open(Path.Combine(work, "catalog.db"));
        using var catalog = new ModelCatalog(models, options, database, new Operations.AgentHealth(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        catalog.Scan();
        return catalog.Current?.Package.Folder ?? throw new FileNotFoundException($"no usable model package in {models}");
    }

    /// <summary>Whether an environment variable, in any spelling, says false (the bench's settings come from the environment, as the agent's can).</summary>
    private static bool IsOff(string variable) =>
        Environment.GetEnvironmentVariables().Cast<DictionaryEntry>()
            .Any(e => string.Equals((string)e.Key, variable, StringComparison.OrdinalIgnoreCase) && string.Equals(e.Value as string, "false", StringComparison.OrdinalIgnoreCase));

    /// <summary>The settings a bench measures, as the service's environment variables.</summary>
    private static IEnumerable<(string Variable, string Value)> Settings(AgentOptions options) =>
    [
        ("EDGEMED__BATCHSIZE", options.BatchSize.ToString(CultureInfo.InvariantCulture)),
        ("EDGEMED__INTRAOPTHREADS", options.IntraOpThreads.ToString(CultureInfo.InvariantCulture)),
        ("EDGEMED__USEMEMORYARENA", options.UseMemoryArena ? "true" : "false"),
        ("EDGEMED__PREPACKWEIGHTS", options.PrepackWeights ? "true" : "false"),
    ];

    private static string Memory(string process = "self")
    {
        var status = File.ReadAllLines($"/proc/{process}/status");
        string Field(string name) => status.FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        return $"VmRSS {Field("VmRSS")}, peak VmHWM {Field("VmHWM")}";
    }

    /// <summary>Starts the service process with a notify socket bound here and times the READY=1 datagram.</summary>
    private static async Task<(double Seconds, string Memory)> StartToReadyAsync(string work, string package, AgentOptions options, CancellationToken cancellationToken)
    {
        var socketPath = Path.Combine(work, $"notify-{Guid.NewGuid():N}.sock");
        var share = Directory.CreateDirectory(Path.Combine(work, "share")).FullName;
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));
        var info = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "run", "--share", share, "--models", package, "--db", Path.Combine(work, "ready.db"), "--quarantine", Path.Combine(work, "q") })
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["NOTIFY_SOCKET"] = socketPath;
        // The service runs the settings measured here (its memory after READY depends on them), whatever spelling of
        // them this process inherited.
        foreach (var (variable, value) in Settings(options))
        {
            foreach (var inherited in info.Environment.Keys.Where(k => string.Equals(k, variable, StringComparison.OrdinalIgnoreCase)).ToList())
            {
                info.Environment.Remove(inherited);
            }

            info.Environment[variable] = value;
        }
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var buffer = new byte[512];
        try
        {
            while (true)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(60));
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (Encoding.UTF8.GetString(buffer, 0, n) == "READY=1")
                {
                    var seconds = clock.Elapsed.TotalSeconds;
                    await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
                    return (seconds, Memory(process.Id.ToString(CultureInfo.InvariantCulture)));
                }
            }
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
