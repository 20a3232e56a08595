using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EdgeMed.DicomIngest.Datasets;
using EdgeMed.DicomIngest.Normalization;
using EdgeMed.Onnx.Model;
using EdgeMed.Packages;
using EdgeMed.Onnx.Runtime;
using EdgeMed.Quantization.Calibration;
using Google.Protobuf;
using Onnx;

namespace EdgeMed.Quantization;

/// <summary>What <c>./edgemed.sh quantize</c> was asked to do.</summary>
public sealed record QuantizeRequest
{
    /// <summary>The fp32 model package.</summary>
    public required string Model { get; init; }

    /// <summary>Labeled calibration folder (ImageFolder or DICOM tree, classes as in the package).</summary>
    public required string Calibration { get; init; }

    /// <summary>The int8 package to write (must not exist).</summary>
    public required string Out { get; init; }

    /// <summary>Calibration method.</summary>
    public CalibrationMethod Method { get; init; } = CalibrationMethod.MinMax;

    /// <summary>Percentile for <see cref="CalibrationMethod.Percentile"/>.</summary>
    public double Percentile { get; init; } = 99.99;

    /// <summary>Calibration samples, stratified by class.</summary>
    public int Samples { get; init; } = 200;

    /// <summary>Labeled folder for the accuracy part of the report (optional).</summary>
    public string? Eval { get; init; }

    /// <summary>Intra-op threads for calibration, evaluation and latency.</summary>
    public int Threads { get; init; } = 2;

    /// <summary>Which nodes are quantized.</summary>
    public QuantizationSelection Selection { get; init; } = new();

    /// <summary>Activation and weight encoding (S8S8 by default).</summary>
    public QdqFormat Format { get; init; } = new();

    /// <summary>
    /// Dynamic int8 (<see cref="DynamicRewriter"/>): MatMuls only, activations quantized per run, no calibration (the
    /// calibration folder then only feeds the latency measurement); otherwise static QDQ in <see cref="Format"/>.
    /// </summary>
    public bool Dynamic { get; init; }

    /// <summary>Tensor cache root (default as the trainer's).</summary>
    public string? Cache { get; init; }
}

/// <summary>
/// Package in, package out: plan, calibrate with the package's own preprocessing, rewrite to QDQ, check that ONNX
/// Runtime loads the result, write the int8 package atomically, and report size, latency and (with an evaluation set)
/// agreement, accuracy and per-tensor error. Nothing is written when any step fails.
/// </summary>
public static class Quantizer
{
    /// <summary>Fewest calibration samples accepted.</summary>
    public const int MinimumSamples = 8;

    /// <summary>Runs the whole quantization; returns the report's figures.</summary>
    public static async Task<JsonElement> QuantizeAsync(QuantizeRequest request, Action<string> log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(log);
        if (Directory.Exists(request.Out))
        {
            throw new QuantizationException($"{request.Out} already exists; packages are not overwritten.");
        }

        var package = ModelPackage.Load(request.Model, NormalizationSettings.AlgorithmVersion);
        if (package.Manifest.Precision != "fp32")
        {
            throw new QuantizationException($"{request.Model} is already {package.Manifest.Precision}.");
        }

        ModelProto model;
        try
        {
            model = OnnxModelFile.Load(package.ModelPath);
        }
        catch (OnnxModelFormatException e)
        {
            throw new QuantizationException(e.Message);
        }

        CheckStaticInput(model, package.Manifest.Input);
        var (plan, kept) = QuantizationPlan.Create(model, request.Selection);
        if (request.Dynamic)
        {
            var eligible = DynamicRewriter.Eligible(model, plan);
            kept = [.. kept, .. plan.Except(eligible).Select(p => new KeptFloatNode(p.NodeName, p.OpType, "the dynamic format quantizes MatMul with 2-D weights only"))];
            plan = eligible;
        }

        if (plan.Count == 0)
        {
            throw new QuantizationException($"No quantizable node: none of {string.Join(", ", request.Selection.OpTypes)} with float weights outside the kept-float rules.");
        }

        log($"plan: {plan.Count} nodes to int8 ({string.Join(", ", plan.GroupBy(p => p.OpType).Select(g => $"{g.Count()} {g.Key}"))}); {kept.Count} kept float");

        var input = package.Manifest.Input;
        var settings = input.Normalization;
        var calibrationSet = LabeledSet.Scan(request.Calibration, package.Manifest.Classes);
        var cache = await TensorCache.OpenOrBuildAsync(calibrationSet, settings, request.Cache ?? TensorCache.DefaultRoot, null, cancellationToken).ConfigureAwait(false);
        var chosen = Stratified(cache, request.Samples);
        if (chosen.Count < MinimumSamples)
        {
            throw new QuantizationException($"The calibration set gave {chosen.Count} samples; at least {MinimumSamples} are needed (ask for --samples and bring more images).");
        }

        var calibrationHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{cache.Key}|{string.Join(',', chosen)}")))[..16];
        var methodName = request.Dynamic ? "dynamic" : request.Method.ToString().ToLowerInvariant();
        log($"calibration: {chosen.Count} samples from {request.Calibration} (cache {cache.Key}), method {methodName}{(request.Dynamic ? " (no calibration: the samples only feed the latency measurement)" : string.Empty)}");
        var source = Source(cache, chosen, input.Channels);
        ModelProto int8;
        if (request.Dynamic)
        {
            int8 = DynamicRewriter.Rewrite(model, plan);
        }
        else
        {
            // An output that stays float needs no threshold; one another quantized node reads is its Activation.
            var activations = plan.SelectMany(p => request.Format.RequantizesOutput(p) ? new[] { p.Activation, p.Output } : [p.Activation]).Distinct(StringComparer.Ordinal).ToList();
            var statistics = CalibrationRunner.Collect(model, activations, source, request.Method, request.Threads, cancellationToken);
            var thresholds = statistics.ToDictionary(s => s.Key, s => s.Value.Threshold(request.Method, request.Percentile), StringComparer.Ordinal);
            var signed = statistics.ToDictionary(s => s.Key, s => s.Value.Min < 0, StringComparer.Ordinal);
            int8 = QdqRewriter.Rewrite(model, plan, thresholds, signed, request.Format);
        }

        var bytes = int8.ToByteArray();
        try
        {
            using var check = OnnxSession.FromBytes(bytes, new OnnxSessionOptions { IntraOpThreads = 1 });
        }
        catch (OnnxRuntimeException e)
        {
            throw new QuantizationException($"ONNX Runtime refused the quantized model, so nothing was written: {e.Message}");
        }

        // Measure before writing: the report belongs to the package.
        var report = new Dictionary<string, object?>
        {
            ["method"] = methodName,
            ["percentile"] = !request.Dynamic && request.Method == CalibrationMethod.Percentile ? request.Percentile : null,
            ["samples"] = chosen.Count,
            ["calibration_hash"] = calibrationHash,
            ["quantized_nodes"] = plan.Count,
            ["matmul_outputs"] = request.Dynamic || request.Format.FloatMatMulOutputs ? "float" : "int8",
            ["depthwise"] = request.Selection.IncludeDepthwise ? "int8" : "float",
            ["kept_float"] = kept.Select(k => new { node = k.NodeName, op = k.OpType, reason = k.Reason }).ToList(),
        };
        var fp32Size = new FileInfo(package.ModelPath).Length;
        report["size_fp32_bytes"] = fp32Size;
        report["size_int8_bytes"] = bytes.LongLength;
        report["size_ratio"] = (double)bytes.LongLength / fp32Size;
        var (latency1, latency8) = Latency(model.ToByteArray(), bytes, source, request.Threads);
        report["latency_fp32_ms_batch1"] = latency1.Fp32;
        report["latency_int8_ms_batch1"] = latency1.Int8;
        report["latency_ratio_int8_fp32"] = latency1.Int8 / latency1.Fp32;
        report["latency_fp32_ms_batch8"] = latency8.Fp32;
        report["latency_int8_ms_batch8"] = latency8.Int8;
        report["latency_ratio_int8_fp32_batch8"] = latency8.Int8 / latency8.Fp32;
        report["threads"] = request.Threads;
        if (request.Eval is { } eval)
        {
            foreach (var (key, value) in Evaluate(model, int8, plan, eval, package, settings, request, cancellationToken))
            {
                report[key] = value;
            }
        }

        var staging = Path.Combine(Path.GetTempPath(), $"edgemed-int8-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            var modelPath = Path.Combine(staging, ModelPackage.ModelFile);
            await File.WriteAllBytesAsync(modelPath, bytes, cancellationToken).ConfigureAwait(false);
            var reportJson = JsonSerializer.SerializeToElement(report, ModelPackage.Json);
            var reportPath = Path.Combine(staging, "report.json");
            await File.WriteAllTextAsync(reportPath, JsonSerializer.Serialize(reportJson, ModelPackage.Json), cancellationToken).ConfigureAwait(false);
            var mdPath = Path.Combine(staging, "report.md");
            await File.WriteAllTextAsync(mdPath, Markdown(package, report), cancellationToken).ConfigureAwait(false);
            var manifest = package.Manifest with
            {
                Name = Path.GetFileName(Path.GetFullPath(request.Out).TrimEnd('/')),
                Precision = "int8",
                Quantization = JsonSerializer.SerializeToElement(new { source_model_sha256 = package.ModelSha256, method = report["method"], percentile = report["percentile"], samples = chosen.Count, calibration_hash = calibrationHash, activations = request.Dynamic ? "uint8 per tensor, quantized at run time from each input's range" : request.Format.UnsignedActivations ? "uint8 per tensor (zero point 0 or 128)" : "int8 per tensor, symmetric", weights = request.Format.ReduceRange && !request.Dynamic ? "int8 per output channel, symmetric, 7-bit range" : "int8 per output channel, symmetric", format = request.Dynamic ? "DynamicQuantizeMatMul" : "QDQ", matmul_outputs = report["matmul_outputs"], depthwise = report["depthwise"], source_command = package.Manifest.CommandLine }, ModelPackage.Json),
                CreatedAt = DateTimeOffset.UtcNow,
                CommandLine = Environment.CommandLine,
            };
            // The parent's other files (its training report and figures under training/) travel with the int8 model.
            var files = package.Manifest.Files.Keys.Where(name => name is not (ModelPackage.ModelFile or "report.json" or "report.md"))
                .ToDictionary(name => name, name => Path.Combine(package.Folder, name), StringComparer.Ordinal);
            files[ModelPackage.ModelFile] = modelPath;
            files["report.json"] = reportPath;
            files["report.md"] = mdPath;
            ModelPackage.Write(request.Out, manifest, files);
            log(string.Create(CultureInfo.InvariantCulture, $"int8 package {request.Out}: size ×{report["size_ratio"]:F2}, latency ×{report["latency_ratio_int8_fp32"]:F2} at batch 1 ({request.Threads} threads){(report.TryGetValue("top1_agreement", out var agreement) ? $", top-1 agreement {agreement:F4}" : string.Empty)}"));
            return reportJson;
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    private static void CheckStaticInput(ModelProto model, PackageInput input)
    {
        var initializers = model.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var graphInput = model.Graph.Input.First(i => !initializers.Contains(i.Name));
        var dims = graphInput.Type?.TensorType?.Shape?.Dim;
        if (dims is null || dims.Count != 4 || dims.Skip(1).Any(d => d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue))
        {
            throw new QuantizationException($"Input {graphInput.Name} must be [batch, {input.Channels}, {input.Size}, {input.Size}] with fixed channels and size; calibration cannot resolve other dynamic dimensions.");
        }

        if (dims[1].DimValue != input.Channels || dims[2].DimValue != input.Size || dims[3].DimValue != input.Size)
        {
            throw new QuantizationException($"The model's input [{string.Join(',', dims.Select(d => d.DimValue))}] does not match the package's preprocessing ({input.Channels}×{input.Size}×{input.Size}).");
        }
    }

    /// <summary>Up to <paramref name="count"/> samples, spread over the classes in proportion, deterministic.</summary>
    private static List<int> Stratified(TensorCache cache, int count)
    {
        var byClass = cache.Samples.Select((s, i) => (s.Label, Index: i)).GroupBy(x => x.Label).OrderBy(g => g.Key).ToList();
        var total = cache.Samples.Count;
        var chosen = new List<int>();
        foreach (var group in byClass)
        {
            var share = Math.Max(1, (int)Math.Round((double)count * group.Count() / Math.Max(1, total)));
            var random = new Random(group.Key);
            chosen.AddRange(group.Select(x => x.Index).OrderBy(_ => random.Next()).Take(share));
        }

        return [.. chosen.Order().Take(count)];
    }

    private static CalibrationSource Source(TensorCache cache, List<int> indices, int channels)
    {
        return new CalibrationSource(indices.Count, [1, channels, cache.Size, cache.Size], (i, span) => cache.ReadAsInput(indices[i], channels, span));
    }

    /// <summary>Median latency of fp32 and int8 at batch 1 and 8, interleaved so both see the same machine.</summary>
    private static ((double Fp32, double Int8) Batch1, (double Fp32, double Int8) Batch8) Latency(byte[] fp32, byte[] int8, CalibrationSource source, int threads)
    {
        var options = new OnnxSessionOptions { IntraOpThreads = threads };
        (double, double) Measure(int batch, int repeats)
        {
            var a = OnnxSession.FromBytes(fp32, options);
            var b = OnnxSession.FromBytes(int8, options);
            using var runnerA = new BatchRunner(a, source.Shape.AsSpan(1), batch, [.. a.Outputs.Select(o => o.Name)]);
            using var runnerB = new BatchRunner(b, source.Shape.AsSpan(1), batch, [.. b.Outputs.Select(o => o.Name)]);
            for (var i = 0; i < batch; i++)
            {
                source.Fill(i % source.Count, runnerA.Sample(i));
                runnerA.Sample(i).CopyTo(runnerB.Sample(i));
            }

            var timesA = new List<double>();
            var timesB = new List<double>();
            for (var r = 0; r < repeats + 2; r++)
            {
                foreach (var (runner, times) in new[] { (runnerA, timesA), (runnerB, timesB) })
                {
                    var start = Stopwatch.GetTimestamp();
                    using (runner.Run(batch, CancellationToken.None))
                    {
                    }

                    if (r >= 2)
                    {
                        times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    }
                }
            }

            return (Median(timesA), Median(timesB));
        }

        return (Measure(1, 20), Measure(8, 5));
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    private static Dictionary<string, object?> Evaluate(ModelProto fp32, ModelProto int8, IReadOnlyList<QuantizedNode> plan, string folder, ModelPackage package, NormalizationSettings settings, QuantizeRequest request, CancellationToken cancellationToken)
    {
        var set = LabeledSet.Scan(folder, package.Manifest.Classes);
        var cache = TensorCache.OpenOrBuildAsync(set, settings, request.Cache ?? TensorCache.DefaultRoot, null, cancellationToken).GetAwaiter().GetResult();
        var indices = Enumerable.Range(0, cache.Samples.Count).ToList();
        var source = Source(cache, indices, package.Manifest.Input.Channels);

        // Expose every quantized node's output in both models: fp32 names it O; in the int8 model O is its DQ output,
        // or the node's own float output where it is not requantized (--matmul-outputs float).
        var probes = plan.Select(p => p.Output).Where(o => int8.Graph.Node.Any(n => n.Output.Contains(o))).Distinct().ToList();
        var logits = package.Manifest.Outputs[0];
        ModelProto Expose(ModelProto m) => ModelEdits.ExposeOutputs(m, probes);

        var options = new OnnxSessionOptions { IntraOpThreads = request.Threads };
        var names = new List<string> { logits };
        names.AddRange(probes);
        using var a = new BatchRunner(OnnxSession.FromBytes(Expose(fp32).ToByteArray(), options), source.Shape.AsSpan(1), 1, names);
        using var b = new BatchRunner(OnnxSession.FromBytes(Expose(int8).ToByteArray(), options), source.Shape.AsSpan(1), 1, names);
        var signal = new double[probes.Count];
        var noise = new double[probes.Count];
        var dot = new double[probes.Count];
        var normA = new double[probes.Count];
        var normB = new double[probes.Count];
        int agree = 0, correctA = 0, correctB = 0;
        a.RunAll(indices.Count, source.Fill, (i, _, oa) =>
        {
            a.Sample(0).CopyTo(b.Sample(0));
            using var ob = b.Run(1, cancellationToken);
            var pa = ArgMax(oa.GetSpan<float>(0));
            var pb = ArgMax(ob.GetSpan<float>(0));
            var label = cache.Samples[i].Label;
            agree += pa == pb ? 1 : 0;
            correctA += pa == label ? 1 : 0;
            correctB += pb == label ? 1 : 0;
            for (var t = 0; t < probes.Count; t++)
            {
                var x = oa.GetSpan<float>(t + 1);
                var y = ob.GetSpan<float>(t + 1);
                for (var k = 0; k < x.Length; k++)
                {
                    signal[t] += (double)x[k] * x[k];
                    noise[t] += ((double)x[k] - y[k]) * ((double)x[k] - y[k]);
                    dot[t] += (double)x[k] * y[k];
                    normA[t] += (double)x[k] * x[k];
                    normB[t] += (double)y[k] * y[k];
                }
            }
        }, cancellationToken);

        var n = indices.Count;
        var tensors = probes.Select((p, t) => new
        {
            tensor = p,
            sqnr_db = noise[t] > 0 ? 10 * Math.Log10(signal[t] / noise[t]) : 99.0,
            cosine = normA[t] > 0 && normB[t] > 0 ? dot[t] / Math.Sqrt(normA[t] * normB[t]) : 1.0,
        }).OrderBy(x => x.sqnr_db).ToList();
        return new Dictionary<string, object?>
        {
            ["eval_samples"] = n,
            ["top1_agreement"] = (double)agree / n,
            ["accuracy_fp32"] = (double)correctA / n,
            ["accuracy_int8"] = (double)correctB / n,
            ["tensors_worst_first"] = tensors,
        };
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            best = values[i] > values[best] ? i : best;
        }

        return best;
    }

    private static string Markdown(ModelPackage package, Dictionary<string, object?> r)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.Append(inv, $"# Int8 quantization of {package.Manifest.Name} ({package.Manifest.Arch})\n\n");
        md.Append(inv, $"- method {r["method"]}{(r["percentile"] is double p ? $" ({p})" : string.Empty)}, {r["samples"]} calibration samples (hash {r["calibration_hash"]}); {r["quantized_nodes"]} nodes int8 ({(r["method"] is "dynamic" ? "DynamicQuantizeMatMul: activations quantized per run" : "QDQ: activations per tensor")}, weights per output channel, symmetric; MatMul outputs {r["matmul_outputs"]}, depthwise convolutions {r["depthwise"]})\n");
        md.Append(inv, $"- size: {(long)r["size_fp32_bytes"]! / 1048576.0:F1} MiB → {(long)r["size_int8_bytes"]! / 1048576.0:F1} MiB (×{r["size_ratio"]:F3})\n");
        md.Append(inv, $"- latency ({r["threads"]} threads, medians, measured side by side): batch 1 {r["latency_fp32_ms_batch1"]:F2} → {r["latency_int8_ms_batch1"]:F2} ms (×{r["latency_ratio_int8_fp32"]:F3}); batch 8 {r["latency_fp32_ms_batch8"]:F2} → {r["latency_int8_ms_batch8"]:F2} ms (×{r["latency_ratio_int8_fp32_batch8"]:F3})\n");
        if (r.TryGetValue("top1_agreement", out var agreement))
        {
            md.Append(inv, $"- on {r["eval_samples"]} evaluation samples: top-1 agreement {agreement:F4}; accuracy fp32 {r["accuracy_fp32"]:F4}, int8 {r["accuracy_int8"]:F4}\n\n");
            md.Append("## Quantized tensors, worst first\n\n| tensor | SQNR (dB) | cosine |\n|---|---|---|\n");
            foreach (var t in (System.Collections.IEnumerable)r["tensors_worst_first"]!)
            {
                var element = JsonSerializer.SerializeToElement(t);
                md.Append(inv, $"| {element.GetProperty("tensor").GetString()} | {element.GetProperty("sqnr_db").GetDouble():F1} | {element.GetProperty("cosine").GetDouble():F5} |\n");
            }
        }

        md.Append("\n## Kept in float\n\n| node | op | why |\n|---|---|---|\n");
        foreach (var k in (System.Collections.IEnumerable)r["kept_float"]!)
        {
            var element = JsonSerializer.SerializeToElement(k);
            md.Append(inv, $"| {element.GetProperty("node").GetString()} | {element.GetProperty("op").GetString()} | {element.GetProperty("reason").GetString()} |\n");
        }

        return md.ToString();
    }
}
