using System.Globalization;
using EdgeMed.DicomIngest.Datasets;
using EdgeMed.DicomIngest.Images;
using EdgeMed.DicomIngest.Normalization;
using Xunit.Abstractions;

namespace EdgeMed.TrainerHost.Tests;

/// <summary>The training recipe's parts: subject grouping, schedule, mixed precision, augmentation, weight decay, option checks.</summary>
public sealed class RecipeTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("edgemed-recipe-").FullName;

    [Fact]
    public async Task GroupingBySimilarSlices_RecoversSubjects_WhoseSlicesAreInterleavedInFileOrder()
    {
        // Three synthetic subjects of 8 slices each (a subject = its own random texture; slices = a slowly growing
        // blob on it), named slice-major like the Alzheimer folder (file i is subject i % 3), in two classes.
        var subjects = new[] { (Class: "a", Seed: 1), (Class: "a", Seed: 2), (Class: "b", Seed: 3) };
        var truth = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var slice = 0; slice < 8; slice++)
        {
            for (var s = 0; s < subjects.Length; s++)
            {
                var folder = Directory.CreateDirectory(Path.Combine(_root, "data", subjects[s].Class)).FullName;
                var file = Path.Combine(folder, $"img{(slice * subjects.Length) + s}.png");
                await File.WriteAllBytesAsync(file, PngCodec.WriteGray8(SubjectSlice(subjects[s].Seed, slice, 48), 48, 48));
                truth[file] = s;
            }
        }

        var set = LabeledSet.Scan(Path.Combine(_root, "data"));
        var cache = await TensorCache.OpenOrBuildAsync(set, new NormalizationSettings { Size = 48 }, Path.Combine(_root, "cache"), null, CancellationToken.None);

        var groups = SliceGrouping.BySimilarity(cache);

        var found = set.Files.GroupBy(f => groups[f.Path]).Select(g => g.Select(f => truth[f.Path]).Distinct().ToList()).ToList();
        output.WriteLine($"{found.Count} groups: {string.Join("; ", found.Select(g => string.Join(',', g)))}");
        Assert.Equal(3, found.Count);
        Assert.All(found, g => Assert.Single(g));

        // Grouped, a split keeps every subject on one side.
        var grouped = set.WithGroups(groups);
        var parts = Splitter.Split(grouped, 0.5, 0.5, seed: 0);
        foreach (var subject in grouped.Files.GroupBy(f => truth[f.Path]))
        {
            Assert.Single(subject.Select(f => parts[f.Path]).Distinct());
        }

        // split.csv numbers the groups (the last column), one number per subject.
        var csv = Path.Combine(_root, "split.csv");
        Splitter.Write(csv, grouped, parts);
        var rows = File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(3, rows.Select(r => r[3]).Distinct().Count());
        Assert.All(rows.GroupBy(r => r[3]), g => Assert.Single(g.Select(r => truth[Path.Combine(_root, "data", r[0].Trim('"'))]).Distinct()));
        Assert.Equal(grouped.Files.Select(f => (Path.GetRelativePath(grouped.Root, f.Path), parts[f.Path])), Splitter.Read(csv));
    }

    [Fact]
    public async Task HoldOut_KeepsTheWholeSubjectOfANamedSliceOutOfEveryPart_WithARelativeDataFolder()
    {
        // Four synthetic subjects of 8 slices, two per class; the list names one slice of subject 0. With --group-by
        // similar its 7 other slices go too, and split.csv shows all 8 as heldout. --data is given relative, as the
        // README's commands give it.
        var data = Path.Combine(_root, "holdout-data");
        var subjects = new[] { (Class: "a", Seed: 11), (Class: "a", Seed: 12), (Class: "b", Seed: 13), (Class: "b", Seed: 14) };
        for (var slice = 0; slice < 8; slice++)
        {
            for (var s = 0; s < subjects.Length; s++)
            {
                var folder = Directory.CreateDirectory(Path.Combine(data, subjects[s].Class)).FullName;
                await File.WriteAllBytesAsync(Path.Combine(folder, $"img{(slice * subjects.Length) + s}.png"), PngCodec.WriteGray8(SubjectSlice(subjects[s].Seed, slice, 48), 48, 48));
            }
        }

        var list = Path.Combine(_root, "hold-out.txt");
        await File.WriteAllLinesAsync(list, ["# one slice of subject 0", "a/img12.png"]);
        var run = Path.Combine(_root, "holdout-run");
        string[] common = ["--data", Path.GetRelativePath(Environment.CurrentDirectory, data), "--arch", "base-cnn", "--size", "32", "--epochs", "1", "--threads", "1",
            "--split", "1,0,0", "--cache", Path.Combine(_root, "cache")];

        var (refused, _, why) = await Trainer.RunAsync([.. common, "--out", run + "-refused", "--hold-out", list]);
        Assert.Equal(2, refused);
        Assert.Contains("needs --group-by similar", why, StringComparison.Ordinal);

        var (exit, stdout, stderr) = await Trainer.RunAsync([.. common, "--out", run, "--hold-out", list, "--group-by", "similar"]);
        output.WriteLine(stdout);
        Assert.True(exit == 0, stderr);
        Assert.Contains("held out: 8 files", stdout, StringComparison.Ordinal);
        var rows = Splitter.Read(Path.Combine(run, "split.csv"));
        Assert.Equal(32, rows.Count);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"a/img{i * 4}.png").Order(StringComparer.Ordinal), rows.Where(r => r.Part == SplitPart.HeldOut).Select(r => r.Path).Order(StringComparer.Ordinal));
        Assert.All(rows.Where(r => r.Part != SplitPart.HeldOut), r => Assert.Equal(SplitPart.Train, r.Part));
        Assert.Contains("held out of every part: 8 files", await File.ReadAllTextAsync(Path.Combine(run, "report.md")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GroupingBySimilarSlices_RefusesDataThatFormsOneChain()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_root, "chain", "a")).FullName;
        Directory.CreateDirectory(Path.Combine(_root, "chain", "b"));
        for (var slice = 0; slice < 12; slice++)
        {
            await File.WriteAllBytesAsync(Path.Combine(folder, $"{slice}.png"), PngCodec.WriteGray8(SubjectSlice(7, slice, 32), 32, 32));
        }

        await File.WriteAllBytesAsync(Path.Combine(_root, "chain", "b", "0.png"), PngCodec.WriteGray8(SubjectSlice(7, 12, 32), 32, 32));
        var set = LabeledSet.Scan(Path.Combine(_root, "chain"));
        var cache = await TensorCache.OpenOrBuildAsync(set, new NormalizationSettings { Size = 32 }, Path.Combine(_root, "cache"), null, CancellationToken.None);

        var error = Assert.Throws<DatasetException>(() => SliceGrouping.BySimilarity(cache));

        Assert.Contains("13 of 13", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LearningRate_WarmsUpLinearly_ThenFollowsACosineToZero()
    {
        var values = await Trainer.PythonAsync(
            "import edgemed_worker as w\n" +
            "print(' '.join(str(w.lr_factor(s, 100, 10, 'cosine')) for s in (0, 4, 9, 10, 55, 100)))\n" +
            "print(' '.join(str(w.lr_factor(s, 100, 10, 'constant')) for s in (0, 9, 10, 99)))");
        var lines = values.Trim().Split('\n').Select(l => l.Split(' ').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();

        Assert.Equal([0.1, 0.5, 1.0, 1.0, 0.5, 0.0], lines[0].Select(v => Math.Round(v, 9)));
        Assert.Equal([0.1, 1.0, 1.0, 1.0], lines[1].Select(v => Math.Round(v, 9)));
    }

    [Fact]
    public async Task KeptEpoch_IsTheBestValidated_OrWithoutValidationTheLast()
    {
        var result = await Trainer.PythonAsync(
            "import edgemed_worker as w\n" +
            "print(w.keeps_epoch(0.6, 0.5, True), w.keeps_epoch(0.4, 0.5, True), w.keeps_epoch(0.5, 0.5, True), w.keeps_epoch(0.4, 0.9, False))");

        Assert.Equal("True False False True", result.Trim());
    }

    [Theory]
    [InlineData(null, "class weights (inverse): 2, 1, 0.5, 2")]
    [InlineData("sqrt", "class weights (sqrt): 1.414, 1, 0.707, 1.414")]
    public async Task ClassWeights_FollowTheTrainingCounts_InverseWhenGivenBare_OrTheirSquareRoot(string? mode, string expected)
    {
        // 2, 4, 8 and 2 slices per class, all in training: inverse weights are 16 / (4 × count).
        string[] weighting = mode is null ? ["--class-weights"] : ["--class-weights", mode];
        var (exit, stdout, stderr) = await Trainer.RunAsync(["--data", Trainer.Alzheimer, "--out", Path.Combine(_root, $"weights-{mode ?? "bare"}"), "--arch", "base-cnn",
            "--size", "32", "--epochs", "1", "--max-steps", "1", "--threads", "1", "--split", "1,0,0", "--cache", Path.Combine(_root, "cache"),
            "--subset", "MildDemented=2,ModerateDemented=4,NonDemented=8,VeryMildDemented=2", .. weighting]);

        Assert.True(exit == 0, stderr);
        Assert.Contains(expected, stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MixedPrecision_KeepsFloatMasterWeightsAndLayerNorm_AndLearnsLikeFloat32()
    {
        // Same model, batch and optimizer in float32 and in bf16-mixed: both lower the loss, and the mixed run's
        // final loss is close to the float32 run's (bfloat16 compute, float32 updates).
        var result = await Trainer.PythonAsync(
            "import torch, torch.nn as nn, torch.nn.functional as F, edgemed_worker as w\n" +
            "torch.set_num_threads(1)\n" +
            "def run(mixed):\n" +
            "    torch.manual_seed(0); m = w.build_model('iconvnext-tiny', 4); m.train()\n" +
            "    x = torch.randn(4, 3, 32, 32); y = torch.tensor([0, 1, 2, 3])\n" +
            "    opt = w.make_optimizer('adamw', m, 1e-3, 0.05)\n" +
            "    mp = w.MixedPrecision(m) if mixed else None\n" +
            "    losses = []\n" +
            "    for _ in range(8):\n" +
            "        logits, feats = mp.forward(x) if mp else m(x)\n" +
            "        loss = F.cross_entropy(logits, y) + 0.05 * w.feature_smoothing_loss(feats, y)\n" +
            "        opt.zero_grad(); loss.backward()\n" +
            "        if mp: mp.after_backward()\n" +
            "        opt.step()\n" +
            "        if mp: mp.after_step()\n" +
            "        losses.append(loss.item())\n" +
            "    if mp:\n" +
            "        assert all(p.dtype == torch.float32 for p in m.parameters())\n" +
            "        norms = [mod for mod in mp.work.modules() if isinstance(mod, nn.LayerNorm)]\n" +
            "        assert norms and all(n.weight.dtype == torch.float32 for n in norms)\n" +
            "        convs = [mod for mod in mp.work.modules() if isinstance(mod, nn.Conv2d)]\n" +
            "        assert all(c.weight.dtype == torch.bfloat16 for c in convs)\n" +
            "        assert all(torch.equal(a.to(torch.bfloat16), b.to(torch.bfloat16)) for a, b in mp.pairs)\n" +
            "    return losses[0], losses[-1]\n" +
            "print(*run(False), *run(True))");
        var v = result.Trim().Split(' ').Select(p => double.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        output.WriteLine($"float32 {v[0]:F4} → {v[1]:F4}; bf16-mixed {v[2]:F4} → {v[3]:F4}");

        Assert.True(v[1] < v[0] * 0.8 && v[3] < v[2] * 0.8, "both runs lower the loss");
        Assert.True(Math.Abs(v[3] - v[1]) < 0.15 * v[1] + 0.05, $"bf16-mixed ends at {v[3]}, float32 at {v[1]}");
    }

    [Fact]
    public async Task InitFromAnotherClassCount_CarriesTheBackboneOver_AndLeavesTheClassifierFresh()
    {
        // Pre-training on MedNIST (6 classes) then fine-tuning on the Alzheimer slices (4): the backbone's tensors
        // are copied, the 6-row classifier is skipped by name, and a checkpoint of another architecture is refused.
        var result = await Trainer.PythonAsync(
            "import torch, edgemed_worker as w\n" +
            "torch.manual_seed(1); source = w.build_model('iconvnext-tiny', 6)\n" +
            "torch.manual_seed(2); target = w.build_model('iconvnext-tiny', 4); fresh = target.head.weight.clone()\n" +
            "loaded, skipped, unexpected = w.load_init(target, {'model': source.state_dict()})\n" +
            "assert skipped == ['head.bias', 'head.weight'], skipped\n" +
            "assert not unexpected, unexpected\n" +
            "assert torch.equal(target.features[0][0].weight, source.features[0][0].weight)\n" +
            "assert torch.equal(target.fc.weight, source.fc.weight)\n" +
            "assert torch.equal(target.head.weight, fresh)\n" +
            "try:\n" +
            "    w.load_init(target, w.build_model('base-cnn', 4).state_dict()); print('accepted')\n" +
            "except ValueError as e:\n" +
            "    print('refused')\n" +
            "print(len(loaded))");
        var lines = result.Trim().Split('\n');
        output.WriteLine(string.Join(" | ", lines));
        Assert.Equal("refused", lines[0]);
        Assert.True(int.Parse(lines[1], CultureInfo.InvariantCulture) > 100, "the backbone's tensors are loaded");
    }

    [Fact]
    public async Task StrongAugmentation_IsSeeded_KeepsTheIntensityRange_AndMovesTheImage()
    {
        var result = await Trainer.PythonAsync(
            "import torch, edgemed_worker as w\n" +
            "x = torch.rand(6, 1, 32, 32) * 2 - 1\n" +
            "a = w.augment(x, -1.0, torch.Generator().manual_seed(3), 'strong', 0.5, 0.5)\n" +
            "b = w.augment(x, -1.0, torch.Generator().manual_seed(3), 'strong', 0.5, 0.5)\n" +
            "print(torch.equal(a, b), a.shape == x.shape, a.min().item() >= -1 - 1e-6, a.max().item() <= 1 + 1e-6, (a - x).abs().mean().item())");
        var parts = result.Trim().Split(' ');
        output.WriteLine(result);

        Assert.Equal(["True", "True", "True", "True"], parts[..4]);
        Assert.True(double.Parse(parts[4], CultureInfo.InvariantCulture) > 0.05, "the augmentation changed the images");
    }

    [Fact]
    public async Task WeightAverage_StartsAtTheWeights_FollowsThemWithTheRampedDecay_AndLeavesThemAlone()
    {
        // One update after every weight moved by +1: the average moves by 1 - d, d = min(0.5, 2/11) on the first
        // update; batch-norm statistics are averaged alike and the step counter copied.
        var result = await Trainer.PythonAsync(
            "import torch, edgemed_worker as w\n" +
            "m = w.build_model('base-cnn', 4)\n" +
            "before = {k: v.clone() for k, v in m.state_dict().items()}\n" +
            "avg = w.WeightAverage(m, 0.5)\n" +
            "assert all(torch.equal(a, b) for a, b in zip(avg.model.state_dict().values(), before.values()))\n" +
            "with torch.no_grad():\n" +
            "    for k, v in m.state_dict().items():\n" +
            "        v.add_(1)\n" +
            "moved = {k: v.clone() for k, v in m.state_dict().items()}\n" +
            "avg.update(m)\n" +
            "d = 2 / 11\n" +
            "floats = [k for k, v in before.items() if v.dtype.is_floating_point]\n" +
            "ints = [k for k, v in before.items() if not v.dtype.is_floating_point]\n" +
            "err = max((avg.model.state_dict()[k] - (before[k] + (1 - d))).abs().max().item() for k in floats)\n" +
            "print(err < 1e-5, bool(ints) and all(torch.equal(avg.model.state_dict()[k], moved[k]) for k in ints),\n" +
            "      all(torch.equal(m.state_dict()[k], moved[k]) for k in moved), not any(p.requires_grad for p in avg.model.parameters()))\n" +
            "for _ in range(200): avg.update(m)\n" +
            "print(max((avg.model.state_dict()[k] - moved[k]).abs().max().item() for k in floats) < 1e-5, avg.updates)");
        var lines = result.Trim().Split('\n');

        Assert.Equal("True True True True", lines[0]);
        Assert.Equal("True 201", lines[1]);
    }

    [Fact]
    public async Task WeightDecay_SparesBiasesAndNorms()
    {
        var result = await Trainer.PythonAsync(
            "import edgemed_worker as w\n" +
            "m = w.build_model('iconvnext-tiny', 4)\n" +
            "opt = w.make_optimizer('adamw', m, 1e-3, 0.05)\n" +
            "decay, keep = opt.param_groups\n" +
            "print(decay['weight_decay'], keep['weight_decay'], all(p.ndim >= 2 for p in decay['params']), all(p.ndim < 2 for p in keep['params']), len(decay['params']) + len(keep['params']) == len(list(m.parameters())))");

        Assert.Equal("0.05 0.0 True True True", result.Trim());
    }

    [Fact]
    public async Task DistillationLoss_IsZeroForTheTeachersOwnOutputs_AndScalesKlByTemperatureSquared()
    {
        var result = await Trainer.PythonAsync(
            "import torch, torch.nn.functional as F, edgemed_worker as w\n" +
            "t = torch.tensor([[2.0, 0.0, -1.0, 0.5], [0.1, 0.2, 3.0, -2.0]])\n" +
            "s = torch.tensor([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 1.0]], requires_grad=True)\n" +
            "p, q = F.softmax(t / 3, 1), F.softmax(s / 3, 1)\n" +
            "by_hand = 9 * (p * (p.log() - q.log())).sum(1).mean()\n" +
            "loss = w.distillation_loss(s, t, 3.0)\n" +
            "loss.backward()\n" +
            "print(abs(w.distillation_loss(t, t, 3.0).item()) < 1e-5, (loss - by_hand).abs().item() < 1e-5 * by_hand.item(), loss.item() > 0.01, s.grad.abs().sum().item() > 0)");

        Assert.Equal("True True True True", result.Trim());
    }

    [Fact]
    public async Task FeatureHints_AreTheMeanSquaredDistanceToTheTeachersNormalizedStages_CaughtOnlyWhileActive()
    {
        var result = await Trainer.PythonAsync(
            "import torch, torch.nn.functional as F, edgemed_worker as w\n" +
            "torch.manual_seed(0)\n" +
            "s, t = w.build_model('iconvnext-tiny', 4), w.build_model('resnet18', 4).eval()\n" +
            "h = w.FeatureHints(s, t, 64)\n" +
            "h.attach(s, t)\n" +
            "x = torch.randn(2, 3, 64, 64)\n" +
            "s.eval(); s(x); t(x)\n" +
            "idle = len(h._student) + len(h._teacher)\n" +
            "h.active = True\n" +
            "s(x)\n" +
            "with torch.no_grad(): t(x)\n" +
            "loss = h.loss()\n" +
            "ss = [s.features[:i + 1](x) for i in (1, 3, 5, 7)]\n" +
            "n = t.net\n" +
            "y = n.maxpool(n.relu(n.bn1(n.conv1(x)))); ts = []\n" +
            "for layer in (n.layer1, n.layer2, n.layer3, n.layer4): y = layer(y); ts.append(y)\n" +
            "by_hand = sum(F.mse_loss(p(a), F.layer_norm(b.permute(0, 2, 3, 1), b.shape[1:2]).permute(0, 3, 1, 2)) for p, a, b in zip(h.proj, ss, ts)) / 4\n" +
            "loss.backward()\n" +
            "print(idle, h.shapes[3], h.active, abs(loss.item() - by_hand.item()) < 1e-5, s.features[0][0].weight.grad is not None, h.proj[0].weight.grad is not None)");

        Assert.Equal("0 ((768, 2, 2), (512, 2, 2)) False True True True", result.Trim());
    }

    [Theory]
    [InlineData("--distill-weight", "0.5", "--epochs", "2", "need --teacher")]
    [InlineData("--distill-features", "1", "--epochs", "2", "--distill-features need --teacher")]
    [InlineData("--teacher", "/nonexistent/run", "--distill-features", "0", "--distill-features needs a positive weight and a four-stage student")]
    [InlineData("--teacher", "/nonexistent/run", "--distill-weight", "1.5", "--distill-weight must be in (0, 1]")]
    [InlineData("--teacher", "/nonexistent/run", "--epochs", "2", "--teacher /nonexistent/run: folder not found")]
    [InlineData("--drop-path", "0.1", "--arch", "base-cnn", "--drop-path applies to the ConvNeXt")]
    [InlineData("--schedule", "cosine", "--reduce-lr-on-plateau", "true", "cannot be combined")]
    [InlineData("--precision", "fp16", "--epochs", "2", "--precision fp16 is unknown")]
    [InlineData("--group-by", "patient", "--epochs", "2", "--group-by patient is unknown")]
    [InlineData("--warmup-epochs", "3", "--epochs", "3", "less than --epochs")]
    [InlineData("--ema", "1", "--epochs", "2", "--ema 1 must be between 0 and 1")]
    public async Task BadRecipeOptions_AreRefusedBeforeAnyWork(string o1, string v1, string o2, string v2, string expected)
    {
        var (exit, _, stderr) = await Trainer.RunAsync(["--data", Trainer.Alzheimer, "--out", Path.Combine(_root, "run"), o1, v1, o2, v2]);

        Assert.Equal(2, exit);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_root, "run")));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>A subject's texture (smooth random bumps from its seed) with a blob whose radius grows with the slice.</summary>
    private static float[] SubjectSlice(int seed, int slice, int size)
    {
        var random = new Random(seed);
        var bumps = Enumerable.Range(0, 6).Select(_ => (X: random.NextDouble() * size, Y: random.NextDouble() * size, R: 4 + (random.NextDouble() * 8), A: random.NextDouble())).ToArray();
        var pixels = new float[size * size];
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                var v = bumps.Sum(b => b.A * Math.Exp(-(((x - b.X) * (x - b.X)) + ((y - b.Y) * (y - b.Y))) / (2 * b.R * b.R)));
                var d = Math.Sqrt(((x - (size / 2.0)) * (x - (size / 2.0))) + ((y - (size / 2.0)) * (y - (size / 2.0))));
                v += d < 3 + slice ? 0.3 : 0;
                pixels[(y * size) + x] = (float)Math.Clamp(v / 2, 0, 1);
            }
        }

        return pixels;
    }
}
