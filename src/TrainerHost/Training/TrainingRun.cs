using System.Globalization;
using System.Text.Json;
using EdgeMed.DicomIngest;
using EdgeMed.DicomIngest.Normalization;
using EdgeMed.Packages;
using EdgeMed.DicomIngest.Datasets;
using EdgeMed.TrainerHost.Reporting;

namespace EdgeMed.TrainerHost.Training;

/// <summary>A training run failed after it started (worker died, parity check failed); the run folder keeps what was done.</summary>
internal sealed class TrainingFailedException(string message) : Exception(message);

/// <summary>
/// One training run, start to package: data and split, tensor cache, the PyTorch worker, the ONNX parity check
/// through our ORT binding, the report and the model package. Everything lands in the run folder.
/// </summary>
internal static class TrainingRun
{
    /// <summary>Files of the run folder that go into the package under <c>training/</c>.</summary>
    public static readonly string[] TrainingEvidence = ["report.md", "metrics.json", "history.json", "split.csv", "curves.png", "confusion_matrix.png", "roc.png", "pca.png"];

    /// <summary>Largest |logit difference| between PyTorch and ONNX Runtime accepted on the test split.</summary>
    public const double ParityTolerance = 1e-3;

    /// <summary>Distillation defaults: half the loss from the teacher, outputs softened at temperature 2 (Hinton et al. 2015 use 2–20).</summary>
    public const double DefaultDistillWeight = 0.5;

    public const double DefaultDistillTemperature = 2.0;

    public static async Task<string> ExecuteAsync(TrainingOptions o, string commandLine, TrainingConsole ui, CancellationToken cancellationToken)
    {
        o.Validate();
        var (init, initPreprocess) = o.Init == ImagenetWeights.Keyword
            ? await ImagenetWeights.EnsureAsync(ImagenetWeights.DefaultFolder, ui, cancellationToken).ConfigureAwait(false)
            : (o.Init is null ? null : Path.GetFullPath(o.Init), null);
        var run = Path.GetFullPath(o.Out);
        PrepareRunFolder(run, o.Resume);
        LabeledSet set;
        using (var headers = new DicomReader())
        {
            set = LabeledSet.Scan(o.Data, dicomHeaders: headers);
        }

        if (o.Subset.Count > 0)
        {
            set = set.Subset(o.Subset, o.Seed);
        }

        var heldOutNames = o.HoldOut is null ? null : await ReadHoldOutAsync(o, set, cancellationToken).ConfigureAwait(false);

        var settings = new NormalizationSettings { Size = o.Size };
        ui.Line($"data: {set.Files.Count} {(set.IsDicom ? "DICOM files" : "images")} in {set.Classes.Count} classes ({string.Join(", ", set.Classes.Select((c, i) => $"{c} {set.Files.Count(f => f.Label == i)}"))})");
        var cache = await TensorCache.OpenOrBuildAsync(set, settings, o.Cache ?? TensorCache.DefaultRoot, ui.Cache, cancellationToken).ConfigureAwait(false);
        ui.Line($"tensor cache {cache.Key}: {cache.Samples.Count} samples at {o.Size} px ({cache.Folder})");
        if (cache.Skipped.Count > 0)
        {
            await File.WriteAllLinesAsync(Path.Combine(run, "skipped.tsv"), cache.Skipped.Select(s => $"{s.Path}\t{s.Reason}"), cancellationToken).ConfigureAwait(false);
            ui.Line($"{cache.Skipped.Count} files skipped (unreadable or no axial slice): listed in {Path.Combine(run, "skipped.tsv")}");
        }

        if (o.GroupBy == "similar")
        {
            if (set.IsDicom)
            {
                throw new TrainingInputException("--group-by similar is for image folders; DICOM files are grouped by patient already.");
            }

            set = set.WithGroups(SliceGrouping.BySimilarity(cache, cancellationToken));
            var sizes = set.Files.GroupBy(f => f.Group, StringComparer.Ordinal).Select(g => g.Count()).ToList();
            ui.Line($"groups by similar slices: {sizes.Count} (sizes {sizes.Min()}–{sizes.Max()})");
        }

        if (heldOutNames is not null)
        {
            // Similarity groups cover only the slices the cache could read: a skipped name would hold out itself alone.
            var skipped = cache.Skipped.Select(k => Path.GetFullPath(k.Path)).ToHashSet(StringComparer.Ordinal);
            var unread = heldOutNames.FirstOrDefault(n => skipped.Contains(Path.GetFullPath(Path.Combine(set.Root, n))));
            if (unread is not null)
            {
                throw new TrainingInputException($"--hold-out names {unread}, which could not be read (skipped.tsv), so its subject cannot be found: name another slice of it.");
            }
        }

        // Held-out subjects are in no part: split.csv lists them as heldout, and a teacher must not have trained on them.
        var splitSet = heldOutNames is null ? set : set.WithoutGroupsOf(heldOutNames);
        var parts = new Dictionary<string, SplitPart>(Splitter.Split(splitSet, o.TrainFraction, o.ValidationFraction, o.Seed), StringComparer.Ordinal);
        foreach (var file in set.Files)
        {
            parts.TryAdd(file.Path, SplitPart.HeldOut);
        }

        if (heldOutNames is not null)
        {
            ui.Line($"held out: {set.Files.Count - splitSet.Files.Count} files, the subjects of the {heldOutNames.Count} named in {o.HoldOut} (in no part)");
        }

        var teacher = o.Teacher is null ? null : TeacherRun.Load(o.Teacher);
        teacher?.CheckFits(set, parts, o.Size);
        if (teacher is not null && o.DistillFeatures is not null && !TrainingOptions.FourStageArchitectures.Contains(teacher.Arch))
        {
            throw new TrainingInputException($"--distill-features: the teacher is a {teacher.Arch}; stage outputs can be matched only from {string.Join(", ", TrainingOptions.FourStageArchitectures)}.");
        }

        var indices = Enum.GetValues<SplitPart>().ToDictionary(p => p, p => new List<int>());
        for (var i = 0; i < cache.Samples.Count; i++)
        {
            indices[parts[cache.Samples[i].Path]].Add(i);
        }

        if (indices[SplitPart.Train].Count == 0)
        {
            throw new TrainingInputException("The training split is empty: add data or change --split.");
        }

        ui.Line($"split (seed {o.Seed}): train {indices[SplitPart.Train].Count}, validation {indices[SplitPart.Validation].Count}, test {indices[SplitPart.Test].Count} samples; in split.csv");
        if ((o.EarlyStopping > 0 || o.ReduceLrOnPlateau) && indices[SplitPart.Validation].Count == 0)
        {
            throw new TrainingInputException("--early-stopping and --reduce-lr-on-plateau need a validation part, and this split has none: raise its validation fraction.");
        }

        Splitter.Write(Path.Combine(run, "split.csv"), set, parts); // after every refusal: a refused run leaves its folder reusable

        // The parity check runs on the test split, or on what there is when it is empty.
        var check = indices[SplitPart.Test].Count > 0 ? indices[SplitPart.Test] : indices[SplitPart.Validation].Count > 0 ? indices[SplitPart.Validation] : indices[SplitPart.Train];
        // What a resumed run must share with the run it continues: data, split and everything that shapes the model
        // (options added later join only when set, so runs started before them still resume).
        var fingerprint = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            $"{cache.Key}|{string.Join(',', indices[SplitPart.Train])}|{string.Join(',', indices[SplitPart.Validation])}|{o.Arch}|{o.Size}|{o.Batch}|{o.Lr}|{o.Optimizer}|{o.LambdaFs}|{o.Augment}|{ClassWeightsKey(o.ClassWeights)}|{o.Seed}|{o.Schedule}|{o.WarmupEpochs}|{o.WeightDecay}|{o.LabelSmoothing}|{o.DropPath}|{o.Precision}|{teacher?.Checkpoint}|{o.DistillWeight}|{o.DistillTemperature}{(o.DistillFeatures is null ? "" : $"|hints {o.DistillFeatures}")}|{(o.Schedule == "cosine" ? o.ScheduleEpochs ?? o.Epochs : 0)}{(o.Ema is null ? "" : $"|ema {o.Ema}")}")))[..16];
        var configPath = Path.Combine(run, "config.json");
        var config = new Dictionary<string, object?>
        {
            ["arch"] = o.Arch, ["classes"] = set.Classes, ["epochs"] = o.Epochs, ["batch"] = o.Batch, ["lr"] = o.Lr,
            ["optimizer"] = o.Optimizer, ["threads"] = o.Threads, ["seed"] = o.Seed, ["lambda_fs"] = o.LambdaFs,
            ["augment"] = o.Augment, ["schedule"] = o.Schedule, ["warmup_epochs"] = o.WarmupEpochs, ["weight_decay"] = o.WeightDecay,
            ["label_smoothing"] = o.LabelSmoothing, ["drop_path"] = o.DropPath, ["precision"] = o.Precision, ["mean"] = settings.Mean, ["std"] = settings.Std,
            ["early_stopping"] = o.EarlyStopping, ["reduce_lr_on_plateau"] = o.ReduceLrOnPlateau,
            ["class_weights"] = o.ClassWeights == TrainingOptions.NoClassWeights ? null : o.ClassWeights, ["ema"] = o.Ema, ["resume"] = o.Resume, ["init"] = init, ["init_preprocess"] = initPreprocess,
            ["hold_out"] = o.HoldOut is null ? null : new Dictionary<string, object> { ["list"] = Path.GetFullPath(o.HoldOut), ["files"] = set.Files.Count - splitSet.Files.Count }, ["max_steps"] = o.MaxSteps, ["schedule_epochs"] = o.ScheduleEpochs ?? o.Epochs, ["test_every_epoch"] = o.TestEveryEpoch, ["out_dir"] = run, ["cache_dir"] = cache.Folder, ["count"] = cache.Samples.Count,
            ["size"] = o.Size, ["background"] = (0 - settings.Mean) / settings.Std,
            ["split"] = new Dictionary<string, List<int>> { ["train"] = indices[SplitPart.Train], ["val"] = indices[SplitPart.Validation], ["test"] = indices[SplitPart.Test] },
            ["check"] = check, ["fingerprint"] = fingerprint,
            ["teacher"] = teacher is null ? null : new Dictionary<string, object>
            {
                ["checkpoint"] = teacher.Checkpoint, ["arch"] = teacher.Arch,
                ["weight"] = o.DistillWeight ?? DefaultDistillWeight, ["temperature"] = o.DistillTemperature ?? DefaultDistillTemperature,
                ["features_weight"] = o.DistillFeatures ?? 0.0,
            },
        };
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(config), cancellationToken).ConfigureAwait(false);

        JsonElement? done = null;
        var history = new List<EpochRecord>();
        var (exitCode, error) = await WorkerProcess.RunAsync(["--config", configPath], Path.Combine(run, "worker.log"), e => OnEvent(e, ui, ref done), cancellationToken).ConfigureAwait(false);
        if (exitCode is 130 or 143 || (exitCode != 0 && cancellationToken.IsCancellationRequested))
        {
            throw new OperationCanceledException(cancellationToken); // Ctrl-C reached the worker first
        }

        if (exitCode != 0 || done is null)
        {
            throw new TrainingFailedException($"The training worker failed (exit code {exitCode}){(error is null ? string.Empty : ": " + error)}. Its log is {Path.Combine(run, "worker.log")}; rerun with --resume to continue from the last completed epoch.");
        }

        var channels = done.Value.GetProperty("channels").GetInt32();
        history.AddRange(ReadHistory(Path.Combine(run, "history.json")));

        // The exported model must reproduce PyTorch, or the run fails.
        var onnx = OnnxEvaluator.Run(Path.Combine(run, "model.onnx"), PackageManifest.DefaultOutputs, cache, check, channels, set.Classes.Count, o.Threads, cancellationToken);
        var checkedOn = indices[SplitPart.Test].Count > 0 ? "test" : indices[SplitPart.Validation].Count > 0 ? "validation" : "training";
        var torch = ReadFloats(Path.Combine(run, "check_logits.f32"));
        var (delta, sameArgmax) = Compare(torch, onnx.Logits, set.Classes.Count);
        ui.Line(string.Create(CultureInfo.InvariantCulture, $"ONNX parity on {check.Count} {checkedOn} samples: max |Δlogit| {delta:E2}, argmax {(sameArgmax ? "identical" : "DIFFERENT")}"));
        if (delta > ParityTolerance || !sameArgmax)
        {
            throw new TrainingFailedException(string.Create(CultureInfo.InvariantCulture, $"The ONNX export does not match PyTorch (max |Δlogit| {delta:E2}, tolerance {ParityTolerance:E0}, argmax {(sameArgmax ? "same" : "different")}); no package was written."));
        }

        var labels = check.Select(i => cache.Samples[i].Label).ToList();
        var metrics = ClassificationMetrics.Compute(labels, ClassificationMetrics.Softmax(onnx.Logits, set.Classes.Count), set.Classes);
        var name = Path.GetFileName(run);
        ReportWriter.Write(run, $"Training run {name}: {o.Arch}", metrics, set.Classes, onnx.Features, onnx.FeatureWidth, labels, history,
        [
            $"data {Path.GetFullPath(o.Data)}; tensor cache {cache.Key} ({NormalizationSettings.AlgorithmVersion}, {o.Size} px)",
            $"split {o.TrainFraction}/{o.ValidationFraction}/{o.TestFraction}, seed {o.Seed}; metrics on the {checkedOn} split, computed from ONNX Runtime's outputs",
            heldOutNames is null ? "" : $"held out of every part: {set.Files.Count - splitSet.Files.Count} files, the subjects of the files named in {o.HoldOut}",
            indices[SplitPart.Validation].Count > 0
                ? $"best epoch {done.Value.GetProperty("best_epoch").GetInt32()} by validation accuracy; {done.Value.GetProperty("parameters").GetInt64():N0} parameters"
                : $"no validation part: the last epoch's weights ({done.Value.GetProperty("best_epoch").GetInt32()}) are kept; {done.Value.GetProperty("parameters").GetInt64():N0} parameters",
            o.ScheduleEpochs is { } span && span > o.Epochs ? $"cosine schedule over {span} epochs, stopped after {o.Epochs}" : "",
            (o.Ema is null ? "raw weights" : string.Create(CultureInfo.InvariantCulture, $"weights: exponential moving average (decay {o.Ema})")) + (indices[SplitPart.Validation].Count > 0 ? " validated and kept" : " kept"),
            teacher is null ? "no teacher" : string.Create(CultureInfo.InvariantCulture, $"distilled from {teacher.Arch} ({teacher.Folder}), weight {o.DistillWeight ?? DefaultDistillWeight}, temperature {o.DistillTemperature ?? DefaultDistillTemperature}{(o.DistillFeatures is null ? "" : $", feature hints weight {o.DistillFeatures}")}"),
            $"command: {commandLine}",
        ]);

        var manifest = new PackageManifest
        {
            Name = name,
            Arch = o.Arch,
            Classes = set.Classes,
            Input = settings.ToPackageInput(channels),
            TrainingDataHash = cache.Key,
            Split = JsonSerializer.SerializeToElement(new { seed = o.Seed, fractions = new[] { o.TrainFraction, o.ValidationFraction, o.TestFraction }, train = indices[SplitPart.Train].Count, val = indices[SplitPart.Validation].Count, test = indices[SplitPart.Test].Count, file = "split.csv" }),
            Metrics = JsonSerializer.SerializeToElement(new { accuracy = metrics.Accuracy, macro_f1 = metrics.MacroF1, weighted_f1 = metrics.WeightedF1, auc_macro = double.IsNaN(metrics.AucMacro) ? (double?)null : metrics.AucMacro, n = metrics.N }),
            CreatedAt = DateTimeOffset.UtcNow,
            CommandLine = commandLine,
        };
        var packageFolder = Path.Combine(run, "package");
        if (Directory.Exists(packageFolder))
        {
            Directory.Delete(packageFolder, recursive: true); // a resumed run replaces its own earlier package
        }

        // The package carries its training evidence (report, figures, metrics, history, split) under training/,
        // and the quantizer carries it on into the int8 package.
        var files = new Dictionary<string, string> { [ModelPackage.ModelFile] = Path.Combine(run, "model.onnx") };
        foreach (var evidence in TrainingEvidence)
        {
            if (File.Exists(Path.Combine(run, evidence)))
            {
                files["training/" + evidence] = Path.Combine(run, evidence);
            }
        }

        ModelPackage.Write(packageFolder, manifest, files);
        ui.Line(string.Create(CultureInfo.InvariantCulture, $"accuracy {metrics.Accuracy:F4}, macro F1 {metrics.MacroF1:F4}, macro AUC {metrics.AucMacro:F4} on {metrics.N} samples; report {Path.Combine(run, "report.md")}; package {packageFolder}"));
        return packageFolder;
    }

    /// <summary>Evaluates a package on a labeled folder and writes the same report.</summary>
    public static async Task<ClassificationMetrics> EvaluateAsync(string packageFolder, string data, string output, int threads, string? cacheRoot, TrainingConsole ui, CancellationToken cancellationToken)
    {
        var package = ModelPackage.Load(packageFolder, NormalizationSettings.AlgorithmVersion);
        var input = package.Manifest.Input;
        LabeledSet set;
        using (var headers = new DicomReader())
        {
            set = LabeledSet.Scan(data, package.Manifest.Classes, headers);
        }

        var settings = input.Normalization;
        var cache = await TensorCache.OpenOrBuildAsync(set, settings, cacheRoot ?? TensorCache.DefaultRoot, ui.Cache, cancellationToken).ConfigureAwait(false);
        if (cache.Samples.Count == 0)
        {
            throw new TrainingInputException($"{data} gave no readable samples.");
        }

        var all = Enumerable.Range(0, cache.Samples.Count).ToList();
        var outputs = OnnxEvaluator.Run(package.ModelPath, package.Manifest.Outputs, cache, all, input.Channels, package.Manifest.Classes.Count, threads, cancellationToken);
        var labels = all.Select(i => cache.Samples[i].Label).ToList();
        var metrics = ClassificationMetrics.Compute(labels, ClassificationMetrics.Softmax(outputs.Logits, set.Classes.Count), set.Classes);
        ReportWriter.Write(output, $"Evaluation of {package.Manifest.Name} ({package.Manifest.Arch}, {package.Manifest.Precision})", metrics, set.Classes, outputs.Features, outputs.FeatureWidth, labels, null,
        [
            $"package {package.Folder} (model SHA-256 {package.ModelSha256[..16]}…)",
            $"data {Path.GetFullPath(data)}: {cache.Samples.Count} samples{(cache.Skipped.Count > 0 ? $", {cache.Skipped.Count} files skipped" : string.Empty)}",
        ]);
        ui.Line(string.Create(CultureInfo.InvariantCulture, $"accuracy {metrics.Accuracy:F4}, macro F1 {metrics.MacroF1:F4} on {metrics.N} samples; report {Path.Combine(output, "report.md")}"));
        return metrics;
    }

    private static void OnEvent(JsonElement e, TrainingConsole ui, ref JsonElement? done)
    {
        var inv = CultureInfo.InvariantCulture;
        switch (e.GetProperty("event").GetString())
        {
            case "start":
                ui.Line(string.Create(inv, $"training {e.GetProperty("arch").GetString()}: {e.GetProperty("parameters").GetInt64():N0} parameters, {e.GetProperty("optimizer").GetString()}, λ_fs {e.GetProperty("lambda_fs").GetDouble()}, {e.GetProperty("threads").GetInt32()} threads, from epoch {e.GetProperty("start_epoch").GetInt32()}"));
                break;
            case "batch":
                ui.Batch(e.GetProperty("epoch").GetInt32(), e.GetProperty("batch").GetInt32(), e.GetProperty("batches").GetInt32(), e.GetProperty("loss").GetDouble(), e.GetProperty("accuracy").GetDouble());
                break;
            case "epoch":
                ui.Line(string.Create(inv, $"epoch {e.GetProperty("epoch").GetInt32()}: train loss {e.GetProperty("train_loss").GetDouble():F4} acc {e.GetProperty("train_accuracy").GetDouble():F4}, val loss {Number(e, "val_loss")} acc {Number(e, "val_accuracy")}{(e.TryGetProperty("raw_val_accuracy", out var raw) ? string.Create(inv, $" (raw weights {raw.GetDouble():F4})") : "")}{(e.TryGetProperty("test_accuracy", out var tested) ? string.Create(inv, $", test acc {tested.GetDouble():F4}") : "")}{(e.TryGetProperty("hint_loss", out var hint) ? string.Create(inv, $", hint loss {hint.GetDouble():F4}") : "")}, {e.GetProperty("seconds").GetDouble():F0} s (best epoch {e.GetProperty("best_epoch").GetInt32()})"));
                break;
            case "early_stop":
                ui.Line($"early stopping at epoch {e.GetProperty("epoch").GetInt32()} (best {e.GetProperty("best_epoch").GetInt32()})");
                break;
            case "teacher":
                ui.Line(string.Create(inv, $"teacher {e.GetProperty("arch").GetString()}: validation accuracy {Number(e, "val_accuracy")}; distillation weight {e.GetProperty("weight").GetDouble()}, temperature {e.GetProperty("temperature").GetDouble()}{HintStages(e)}"));
                break;
            case "init":
                var skipped = e.GetProperty("skipped").EnumerateArray().Select(s => s.GetString()).ToArray();
                var unexpected = e.GetProperty("unexpected").GetInt32();
                ui.Line($"initial weights: {e.GetProperty("loaded").GetInt32()} tensors loaded" + (skipped.Length == 0 ? "" :
                    $"; {skipped.Length} left fresh because their shape differs ({string.Join(", ", skipped)})") +
                    (unexpected == 0 ? "" : $"; {unexpected} in the file have no place in this model"));
                break;
            case "class_weights":
                ui.Line(string.Create(inv, $"class weights ({e.GetProperty("mode").GetString()}): {string.Join(", ", e.GetProperty("weights").EnumerateArray().Select(w => w.GetDouble().ToString("0.###", inv)))}"));
                break;
            case "resumed":
                ui.Line($"resumed after epoch {e.GetProperty("epoch").GetInt32()}");
                break;
            case "done":
                done = e;
                break;
            case "error":
                ui.Line($"worker error: {e.GetProperty("message").GetString()}");
                break;
            default:
                break;
        }
    }

    /// <summary>--class-weights in the resume fingerprint as the yes/no option it once was spelled there, so runs
    /// started before it took a mode still resume.</summary>
    private static string ClassWeightsKey(string mode) => mode switch { TrainingOptions.NoClassWeights => "False", "inverse" => "True", _ => mode };

    /// <summary>"; feature hints weight W, stage channels 96→64, …" for a teacher event with hints, else empty.</summary>
    private static string HintStages(JsonElement e) =>
        !e.TryGetProperty("stages", out var stages) || stages.ValueKind != JsonValueKind.Array ? "" :
        string.Create(CultureInfo.InvariantCulture, $"; feature hints weight {e.GetProperty("features_weight").GetDouble()}, stage channels {string.Join(", ", stages.EnumerateArray().Select(s => $"{s[0][0].GetInt32()}→{s[1][0].GetInt32()}"))}");

    private static string Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble().ToString("F4", CultureInfo.InvariantCulture) : "-";

    /// <summary>The file names of --hold-out, checked before any work: a list that names nothing, or subjects that
    /// cannot be taken out whole, would leave the subjects it means in training without a word.</summary>
    private static async Task<List<string>> ReadHoldOutAsync(TrainingOptions o, LabeledSet set, CancellationToken cancellationToken)
    {
        if (!set.IsDicom && o.GroupBy != "similar")
        {
            throw new TrainingInputException("--hold-out on image folders needs --group-by similar: otherwise only the named slices, not their subjects, are kept out.");
        }

        var named = (await File.ReadAllLinesAsync(o.HoldOut!, cancellationToken).ConfigureAwait(false)).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        if (named.Count == 0)
        {
            throw new TrainingInputException($"--hold-out {o.HoldOut} names no file.");
        }

        _ = set.WithoutGroupsOf(named); // a name that is not in the data is refused here, before the cache is built
        return named;
    }

    private static void PrepareRunFolder(string run, bool resume)
    {
        if (Directory.Exists(run) && Directory.EnumerateFileSystemEntries(run).Any() && !resume)
        {
            throw new TrainingInputException($"{run} already holds a run; choose another --out, or add --resume to continue it.");
        }

        try
        {
            Directory.CreateDirectory(run);
            var probe = Path.Combine(run, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, string.Empty);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainingInputException($"Cannot write to {run}: {e.Message}");
        }
    }

    private static IEnumerable<EpochRecord> ReadHistory(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return [.. document.RootElement.EnumerateArray().Select(h => new EpochRecord(
            h.GetProperty("epoch").GetInt32(), h.GetProperty("train_loss").GetDouble(), h.GetProperty("train_accuracy").GetDouble(),
            h.GetProperty("val_loss").ValueKind == JsonValueKind.Number ? h.GetProperty("val_loss").GetDouble() : null,
            h.GetProperty("val_accuracy").ValueKind == JsonValueKind.Number ? h.GetProperty("val_accuracy").GetDouble() : null,
            h.GetProperty("lr").GetDouble(), h.GetProperty("seconds").GetDouble()))];
    }

    internal static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, values, 0, values.Length * sizeof(float));
        return values;
    }

    internal static (double MaxDelta, bool SameArgmax) Compare(float[] reference, float[] candidate, int k)
    {
        if (reference.Length != candidate.Length)
        {
            return (double.PositiveInfinity, false);
        }

        double max = 0;
        var same = true;
        for (var i = 0; i < reference.Length / k; i++)
        {
            int a = 0, b = 0;
            for (var c = 0; c < k; c++)
            {
                max = Math.Max(max, Math.Abs(reference[(i * k) + c] - candidate[(i * k) + c]));
                a = reference[(i * k) + c] > reference[(i * k) + a] ? c : a;
                b = candidate[(i * k) + c] > candidate[(i * k) + b] ? c : b;
            }

            same &= a == b;
        }

        return (max, same);
    }
}
