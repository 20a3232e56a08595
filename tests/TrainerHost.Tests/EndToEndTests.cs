using System.Diagnostics;
using System.Text.Json;
using EdgeMed.Packages;
using Xunit.Abstractions;

namespace EdgeMed.TrainerHost.Tests;

/// <summary>Shared temp folders: one tensor cache for every run of this class (same data, same settings).</summary>
public sealed class TrainingFolders : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("edgemed-train-").FullName;

    public string Cache => Path.Combine(Root, "cache");

    /// <summary>A small labeled folder for evaluation: 5 images of each class.</summary>
    public string EvaluationData { get; } = MakeEvaluationData();

    private static string MakeEvaluationData()
    {
        var root = Directory.CreateTempSubdirectory("edgemed-evaldata-").FullName;
        foreach (var folder in Directory.GetDirectories(Trainer.Alzheimer))
        {
            var target = Path.Combine(root, Path.GetFileName(folder));
            Directory.CreateDirectory(target);
            foreach (var file in Directory.GetFiles(folder).Order(StringComparer.Ordinal).TakeLast(5))
            {
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
            }
        }

        return root;
    }

    public string Run(string name) => Path.Combine(Root, name);

    public void Dispose()
    {
        Directory.Delete(Root, recursive: true);
        Directory.Delete(EvaluationData, recursive: true);
    }
}

public sealed class EndToEndTests(TrainingFolders folders, ITestOutputHelper output) : IClassFixture<TrainingFolders>
{
    [Theory]
    [InlineData("iconvnext-tiny", 32)]
    [InlineData("convnext-tiny", 32)]
    [InlineData("base-cnn", 32)]
    [InlineData("arn-cnn", 64)]
    [InlineData("resnet50", 32)]
    [InlineData("vgg16", 224)] // its classifier pools to 7×7: exportable only at multiples of 224
    public async Task EachArchitecture_TrainsExportsPassesParityAndEvaluates(string arch, int size)
    {
        var run = folders.Run(arch);

        var (exit, stdout, stderr) = await Trainer.RunAsync(
        [
            "--data", Trainer.Alzheimer, "--arch", arch, "--out", run, "--size", size.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--epochs", "1", "--max-steps", "2", "--batch", "4", "--threads", "2", "--subset", Trainer.Subset(6), "--cache", folders.Cache,
        ]);
        output.WriteLine(stdout);

        Assert.True(exit == 0, $"exit {exit}: {stderr}\n{stdout}");
        Assert.Contains("argmax identical", stdout);
        var package = ModelPackage.Load(Path.Combine(run, "package"));
        Assert.Equal(arch, package.Manifest.Arch);
        Assert.Equal(["MildDemented", "ModerateDemented", "NonDemented", "VeryMildDemented"], package.Manifest.Classes);
        Assert.Equal(arch == "arn-cnn" ? 1 : 3, package.Manifest.Input.Channels);
        foreach (var file in new[] { "report.md", "metrics.json", "curves.png", "confusion_matrix.png", "roc.png", "split.csv" })
        {
            Assert.True(File.Exists(Path.Combine(run, file)), $"{file} missing");
            Assert.True(package.Manifest.Files.ContainsKey("training/" + file), $"training/{file} not in the package");
        }

        var evaluation = Path.Combine(run, "evaluation");
        var (evalExit, evalOut, evalErr) = await Trainer.RunAsync(["evaluate", "--model", Path.Combine(run, "package"), "--data", folders.EvaluationData, "--out", evaluation, "--threads", "2", "--cache", folders.Cache], timeoutSeconds: 900);
        Assert.True(evalExit == 0, $"evaluate exit {evalExit}: {evalErr}\n{evalOut}");
        using var metrics = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(evaluation, "metrics.json")));
        foreach (var key in new[] { "accuracy", "macro_f1", "weighted_f1", "auc_macro", "per_class", "confusion_matrix", "n" })
        {
            Assert.True(metrics.RootElement.TryGetProperty(key, out _), $"metrics.json lacks {key}");
        }

        Assert.Equal(20, metrics.RootElement.GetProperty("n").GetInt32());
        if (arch == "vgg16")
        {
            // 500 MB of weights per copy: keep the CI disk small.
            Directory.Delete(run, recursive: true);
        }
    }

    [Fact]
    public async Task KilledWorker_FailsTheRunClearly_AndResumeContinuesFromTheLastEpoch()
    {
        var run = folders.Run("resume");
        string[] args = ["--data", Trainer.Alzheimer, "--arch", "base-cnn", "--out", run, "--size", "32", "--epochs", "3", "--threads", "1", "--subset", Trainer.Subset(40), "--cache", folders.Cache, "--ema", "0.9"];

        // Kill the PyTorch worker with SIGKILL once the first epoch's checkpoint exists; the worker holds there
        // (EDGEMED_WORKER_HOLD_AFTER_EPOCH), so the kill cannot come after the run already finished.
        var (exit, stdout, stderr) = await Trainer.RunAsync(args, environment: new Dictionary<string, string> { ["EDGEMED_WORKER_HOLD_AFTER_EPOCH"] = "1" }, whileRunning: _ =>
        {
            var deadline = DateTime.UtcNow.AddMinutes(5);
            while (!File.Exists(Path.Combine(run, "checkpoint.pt")) && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }

            foreach (var pid in WorkerPids(run))
            {
                Process.GetProcessById(pid).Kill();
            }
        });
        output.WriteLine(stdout + stderr);

        Assert.Equal(1, exit);
        Assert.Contains("training worker failed", stderr);
        Assert.Contains("--resume", stderr);
        Assert.False(Directory.Exists(Path.Combine(run, "package")));

        var (again, againOut, againErr) = await Trainer.RunAsync([.. args, "--resume"]);
        output.WriteLine(againOut + againErr);

        Assert.True(again == 0, againErr);
        Assert.Contains("resumed after epoch", againOut);
        Assert.DoesNotContain("epoch 1:", againOut); // epoch 1 was not trained again
        using var history = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(run, "history.json")));
        Assert.Equal([1, 2, 3], history.RootElement.EnumerateArray().Select(h => h.GetProperty("epoch").GetInt32()));
        // The weight average is part of the checkpoint: the resumed epochs validate it beside the raw weights.
        Assert.Contains("(raw weights ", againOut);
        Assert.Contains("exponential moving average (decay 0.9)", await File.ReadAllTextAsync(Path.Combine(run, "report.md")));
        ModelPackage.Load(Path.Combine(run, "package"));
    }

    [Fact]
    public async Task FixedEpochCount_WithoutValidation_KeepsTheLastEpoch_StopsPartWayDownALongerCosine_AndScoresTestEachEpoch()
    {
        // A retrain on every subject has no validation to choose an epoch on: it stops after --epochs on a cosine
        // that spans --schedule-epochs, and exports that last epoch. 2 epochs × 2 steps of an 8-step cosine: lr × 0.5.
        var run = folders.Run("fixed-count");
        var (exit, stdout, stderr) = await Trainer.RunAsync(["--data", Trainer.Alzheimer, "--arch", "base-cnn", "--out", run, "--size", "32", "--epochs", "2",
            "--max-steps", "2", "--batch", "4", "--threads", "1", "--subset", Trainer.Subset(6), "--cache", folders.Cache, "--split", "0.75,0,0.25",
            "--lr", "1e-3", "--schedule", "cosine", "--schedule-epochs", "4", "--test-every-epoch"]);
        output.WriteLine(stdout);
        Assert.True(exit == 0, stderr);

        using var history = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(run, "history.json")));
        var epochs = history.RootElement.EnumerateArray().ToList();
        Assert.Equal(2, epochs.Count);
        Assert.All(epochs, e => Assert.InRange(e.GetProperty("test_accuracy").GetDouble(), 0, 1));
        Assert.Equal(5e-4, epochs[1].GetProperty("lr").GetDouble(), 9);
        Assert.Contains(", test acc ", stdout, StringComparison.Ordinal);
        var report = await File.ReadAllTextAsync(Path.Combine(run, "report.md"));
        Assert.Contains("no validation part: the last epoch's weights (2) are kept", report, StringComparison.Ordinal);
        Assert.Contains("cosine schedule over 4 epochs, stopped after 2", report, StringComparison.Ordinal);
        var same = await Trainer.PythonAsync(
            "import torch\n" +
            $"c = torch.load('{Path.Combine(run, "checkpoint.pt")}', map_location='cpu')\n" +
            "print(all(torch.equal(c['model'][k], v) for k, v in c['best_model'].items()))");
        Assert.Equal("True", same.Trim());
    }

    [Fact]
    public async Task Distillation_TeachesFromAFinishedRun_AndRefusesATeacherThatSawTheHeldOutImages()
    {
        // The teacher (3 channels) and the student (arn-cnn, 1 channel) read the same 64 px tensors.
        string[] common = ["--data", Trainer.Alzheimer, "--size", "64", "--epochs", "1", "--max-steps", "2", "--batch", "4", "--threads", "2", "--subset", Trainer.Subset(6), "--cache", folders.Cache];
        var teacher = await TeacherAsync(common, "base-cnn", "teacher");

        // Same subset, another split: per class, the student holds out one image the teacher trained on.
        var leaky = folders.Run("student-leaky");
        var (exit, stdout, stderr) = await Trainer.RunAsync([.. common, "--arch", "arn-cnn", "--out", leaky, "--teacher", teacher, "--split", "0.5,0.25,0.25"]);
        Assert.Equal(2, exit);
        Assert.Contains("it trained on 4 of this run's 12 validation, test and held-out images", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(leaky, "config.json")));

        var student = folders.Run("student");
        (exit, stdout, stderr) = await Trainer.RunAsync([.. common, "--arch", "arn-cnn", "--out", student, "--teacher", teacher, "--distill-weight", "0.7", "--distill-temperature", "3"]);
        output.WriteLine(stdout);
        Assert.True(exit == 0, $"student exit {exit}: {stderr}\n{stdout}");
        Assert.Contains("teacher base-cnn: validation accuracy", stdout, StringComparison.Ordinal);
        Assert.Contains("distillation weight 0.7, temperature 3", stdout, StringComparison.Ordinal);
        Assert.Equal("arn-cnn", ModelPackage.Load(Path.Combine(student, "package")).Manifest.Arch);

        // Feature hints need stages on both sides: base-cnn has none to match.
        (exit, _, stderr) = await Trainer.RunAsync([.. common, "--arch", "iconvnext-tiny", "--out", folders.Run("hints-from-base-cnn"), "--teacher", teacher, "--distill-features", "1"]);
        Assert.Equal(2, exit);
        Assert.Contains("--distill-features: the teacher is a base-cnn", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FeatureHints_MatchAResNetTeachersStages_AndStayOutOfTheExportedModel()
    {
        string[] common = ["--data", Trainer.Alzheimer, "--size", "64", "--epochs", "2", "--max-steps", "3", "--batch", "4", "--threads", "2", "--subset", Trainer.Subset(6), "--cache", folders.Cache];
        var teacher = await TeacherAsync(common, "resnet18", "resnet-teacher");

        var student = folders.Run("hinted");
        var (exit, stdout, stderr) = await Trainer.RunAsync([.. common, "--arch", "iconvnext-tiny", "--precision", "bf16-mixed", "--out", student, "--teacher", teacher, "--distill-features", "1"]);
        output.WriteLine(stdout);
        Assert.True(exit == 0, $"student exit {exit}: {stderr}\n{stdout}");
        Assert.Contains("feature hints weight 1, stage channels 96→64, 192→128, 384→256, 768→512", stdout, StringComparison.Ordinal);
        var hintLosses = stdout.Split('\n').Where(l => l.StartsWith("epoch ", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split("hint loss ")[1].Split(',')[0], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(2, hintLosses.Length);
        Assert.True(hintLosses[1] < hintLosses[0], $"hint loss did not fall: {string.Join(", ", hintLosses)}");
        Assert.Contains("feature hints weight 1", await File.ReadAllTextAsync(Path.Combine(student, "report.md")), StringComparison.Ordinal);

        // The projections are checkpointed for --resume; the exported model is the plain IConvNeXt-Tiny.
        var saved = await Trainer.PythonAsync(
            "import torch\n" +
            $"c = torch.load('{Path.Combine(student, "checkpoint.pt")}', map_location='cpu')\n" +
            "print(len(c['hints']), sorted(c['hints'])[0], any(k.startswith('proj') for k in c['model']))");
        Assert.Equal("8 proj.0.bias False", saved.Trim());
        Assert.Equal("iconvnext-tiny", ModelPackage.Load(Path.Combine(student, "package")).Manifest.Arch);
    }

    /// <summary>A finished run of <paramref name="arch"/> with <paramref name="common"/>'s options, to teach the next.</summary>
    private async Task<string> TeacherAsync(string[] common, string arch, string name)
    {
        var run = folders.Run(name);
        var (exit, stdout, stderr) = await Trainer.RunAsync([.. common, "--arch", arch, "--out", run]);
        Assert.True(exit == 0, $"teacher exit {exit}: {stderr}\n{stdout}");
        return run;
    }

    private static IEnumerable<int> WorkerPids(string run)
    {
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            string commandLine;
            try
            {
                commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            if (commandLine.Contains("edgemed_worker.py", StringComparison.Ordinal) && commandLine.Contains(Path.Combine(run, "config.json"), StringComparison.Ordinal))
            {
                yield return pid;
            }
        }
    }
}
