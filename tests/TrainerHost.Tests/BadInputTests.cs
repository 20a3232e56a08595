namespace EdgeMed.TrainerHost.Tests;

public sealed class BadInputTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("edgemed-badinput-").FullName;

    private string Folder(params string[] parts)
    {
        var path = Path.Combine([_root, .. parts]);
        Directory.CreateDirectory(path);
        return path;
    }

    private static void CopyImages(string to, int count)
    {
        foreach (var file in Directory.GetFiles(Path.Combine(Trainer.Alzheimer, "NonDemented")).Order(StringComparer.Ordinal).Take(count))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }

    private async Task<(int Exit, string Error)> Train(string data, string? output = null, params string[] extra)
    {
        var (exit, _, error) = await Trainer.RunAsync(["--data", data, "--out", output ?? Path.Combine(_root, "run-" + Guid.NewGuid().ToString("N")), "--arch", "base-cnn", "--size", "32", "--epochs", "1", "--threads", "1", "--cache", Path.Combine(_root, "cache"), .. extra]);
        return (exit, error);
    }

    [Fact]
    public async Task EmptyClassFolder_IsRefusedByName()
    {
        var data = Folder("empty-class");
        CopyImages(Folder("empty-class", "a"), 3);
        Folder("empty-class", "b");

        var (exit, error) = await Train(data);

        Assert.Equal(2, exit);
        Assert.Contains("is empty", error);
    }

    [Fact]
    public async Task OneClassOnly_IsRefused()
    {
        var data = Folder("one-class");
        CopyImages(Folder("one-class", "only"), 3);

        var (exit, error) = await Train(data);

        Assert.Equal(2, exit);
        Assert.Contains("at least two", error);
    }

    [Fact]
    public async Task SubsetAskingForMoreThanExist_IsRefused()
    {
        var (exit, error) = await Train(Trainer.Alzheimer, null, "--subset", "ModerateDemented=1000");

        Assert.Equal(2, exit);
        Assert.Contains("ModerateDemented", error);
        Assert.Contains("52", error);
    }

    [Fact]
    public async Task UnreadableImages_AreListedAndSkipped_AndTheRunGoesOn()
    {
        var data = Folder("unreadable");
        CopyImages(Folder("unreadable", "a"), 6);
        CopyImages(Folder("unreadable", "b"), 6);
        await File.WriteAllTextAsync(Path.Combine(data, "a", "broken.jpg"), "not a jpeg");
        var run = Path.Combine(_root, "unreadable-run");

        var (exit, output, error) = await Trainer.RunAsync(["--data", data, "--out", run, "--arch", "base-cnn", "--size", "32", "--epochs", "1", "--threads", "1", "--cache", Path.Combine(_root, "cache")]);

        Assert.True(exit == 0, error);
        Assert.Contains("1 files skipped", output);
        Assert.Contains("broken.jpg", await File.ReadAllTextAsync(Path.Combine(run, "skipped.tsv")));
    }

    [Fact]
    public async Task OutputFolderThatCannotBeWritten_IsRefused()
    {
        var blocker = Path.Combine(_root, "a-file");
        await File.WriteAllTextAsync(blocker, "x");

        var (exit, error) = await Train(Trainer.Alzheimer, Path.Combine(blocker, "run"), "--subset", Trainer.Subset(3));

        Assert.Equal(2, exit);
        Assert.Contains("Cannot write", error);
    }

    [Fact]
    public async Task ExistingRunFolderWithoutResume_IsRefused()
    {
        var run = Folder("existing");
        await File.WriteAllTextAsync(Path.Combine(run, "config.json"), "{}");

        var (exit, error) = await Train(Trainer.Alzheimer, run, "--subset", Trainer.Subset(3));

        Assert.Equal(2, exit);
        Assert.Contains("--resume", error);
    }

    [Fact]
    public async Task WorkerError_IsReportedWithItsMessage()
    {
        var garbage = Path.Combine(_root, "weights.pt");
        await File.WriteAllTextAsync(garbage, "not a state dict");

        var (exit, error) = await Train(Trainer.Alzheimer, null, "--subset", Trainer.Subset(3), "--init", garbage);

        Assert.Equal(1, exit);
        Assert.Contains("training worker failed", error);
        Assert.Contains("worker.log", error);
    }

    [Fact]
    public async Task UnknownArchitecture_IsRefused()
    {
        var (exit, _, error) = await Trainer.RunAsync(["--data", Trainer.Alzheimer, "--out", Path.Combine(_root, "alexnet"), "--arch", "alexnet"]);

        Assert.Equal(2, exit);
        Assert.Contains("iconvnext-tiny", error);
    }

    [Fact]
    public async Task ResumeWithADifferentSplit_IsRefused_AndAnEmptyTestSplitStillGetsAParityCheck()
    {
        var run = Path.Combine(_root, "resume-other-seed");
        string[] args = ["--data", Trainer.Alzheimer, "--out", run, "--arch", "base-cnn", "--size", "32", "--epochs", "1", "--threads", "1", "--split", "0.8,0.2,0", "--subset", Trainer.Subset(5), "--cache", Path.Combine(_root, "cache")];
        var (first, firstOut, firstErr) = await Trainer.RunAsync(args);
        Assert.True(first == 0, firstErr);
        Assert.Contains("ONNX parity on", firstOut);
        Assert.Contains("validation samples", firstOut);

        var (exit, _, error) = await Trainer.RunAsync([.. args, "--seed", "7", "--resume"]);

        Assert.Equal(1, exit);
        Assert.Contains("start a new run", error);
    }

    [Fact]
    public async Task Vgg16AtASizeItCannotExport_IsRefusedBeforeTraining()
    {
        var (exit, _, error) = await Trainer.RunAsync(["--data", Trainer.Alzheimer, "--out", Path.Combine(_root, "vgg"), "--arch", "vgg16", "--size", "64"]);

        Assert.Equal(2, exit);
        Assert.Contains("multiple of 224", error);
    }

    [Theory]
    [InlineData("constant", "14", "needs --schedule cosine")]
    [InlineData("cosine", "0", "at least --epochs")]
    public async Task ScheduleEpochs_WithoutACosineThatOutlastsTheRun_IsRefused(string schedule, string span, string expected)
    {
        var (exit, error) = await Train(Trainer.Alzheimer, null, "--schedule", schedule, "--schedule-epochs", span);

        Assert.True(exit == 2, error);
        Assert.Contains(expected, error);
    }

    [Theory]
    [InlineData("--early-stopping", "3")]
    [InlineData("--reduce-lr-on-plateau", null)]
    public async Task StoppingOrDecayingOnValidation_WithoutAValidationPart_IsRefused(string option, string? value)
    {
        string[] extra = value is null ? ["--split", "0.9,0,0.1", option] : ["--split", "0.9,0,0.1", option, value];
        var (exit, error) = await Train(Trainer.Alzheimer, null, extra);

        Assert.True(exit == 2, error);
        Assert.Contains("need a validation part", error);
    }

    [Fact]
    public async Task UnknownClassWeighting_IsRefused()
    {
        var (exit, error) = await Train(Trainer.Alzheimer, null, "--class-weights", "cube");

        Assert.True(exit == 2, error);
        Assert.Contains("--class-weights cube is unknown; choose inverse or sqrt", error);
    }

    [Fact]
    public async Task ImagenetWeights_ForAnotherArchitecture_AreRefused()
    {
        var (exit, error) = await Train(Trainer.Alzheimer, null, "--init", "imagenet");

        Assert.True(exit == 2, error);
        Assert.Contains("--init imagenet holds ImageNet-trained ResNet weights: it needs --arch resnet18, not base-cnn", error);
    }

    [Fact]
    public async Task ImagenetPackageWithAnotherHash_IsRefusedAndNamed()
    {
        var weights = Folder("weights");
        await File.WriteAllTextAsync(Path.Combine(weights, "microsoft.ml.dnnimagefeaturizer.resnet18.0.24.0.nupkg"), "not the package");
        var (exit, _, error) = await Trainer.RunAsync(
            ["--data", Trainer.Alzheimer, "--out", Path.Combine(_root, "run-hash"), "--arch", "resnet18", "--init", "imagenet", "--size", "32", "--epochs", "1", "--threads", "1"],
            environment: new Dictionary<string, string> { ["EDGEMED_WEIGHTS"] = weights });

        Assert.True(exit == 2, error);
        Assert.Contains("not the pinned bedf0c5c", error);
        Assert.False(File.Exists(Path.Combine(weights, "ResNet18.onnx")));
    }

    [Theory]
    [InlineData("# nothing but a comment", "--group-by similar", "names no file")]
    [InlineData("MildDemented/no-such-slice.jpg", "--group-by similar", "not in the data")]
    [InlineData("MildDemented/mildDem305.jpg", "--subset", "cannot be combined")]
    public async Task HoldOutThatWouldKeepNothingOrTheWrongSubjectsOut_IsRefusedBeforeAnyWork(string line, string extra, string expected)
    {
        var list = Path.Combine(_root, $"hold-out-{Guid.NewGuid():N}.txt");
        await File.WriteAllLinesAsync(list, [line]);
        string[] more = extra == "--subset" ? ["--subset", Trainer.Subset(5), "--group-by", "similar"] : ["--group-by", "similar"];
        var (exit, error) = await Train(Trainer.Alzheimer, null, ["--hold-out", list, .. more]);

        Assert.True(exit == 2, error);
        Assert.Contains(expected, error);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
