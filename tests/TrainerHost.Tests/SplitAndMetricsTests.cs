using EdgeMed.DicomIngest.Datasets;
using EdgeMed.TrainerHost.Reporting;

namespace EdgeMed.TrainerHost.Tests;

public sealed class SplitAndMetricsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("edgemed-split-").FullName;

    private LabeledSet TwoClasses(int perClass)
    {
        foreach (var c in new[] { "a", "b" })
        {
            Directory.CreateDirectory(Path.Combine(_root, c));
            for (var i = 0; i < perClass; i++)
            {
                File.WriteAllText(Path.Combine(_root, c, $"{i:D2}.png"), string.Empty);
            }
        }

        return LabeledSet.Scan(_root);
    }

    [Fact]
    public void Split_IsStratifiedAndExactlyTheSameInEveryProcess()
    {
        var set = TwoClasses(10);

        var parts = Splitter.Split(set, 0.7, 0.1, seed: 0);

        foreach (var c in new[] { "a", "b" })
        {
            var inClass = set.Files.Where(f => set.Classes[f.Label] == c).Select(f => parts[f.Path]).ToList();
            Assert.Equal(7, inClass.Count(p => p == SplitPart.Train));
            Assert.Equal(1, inClass.Count(p => p == SplitPart.Validation));
            Assert.Equal(2, inClass.Count(p => p == SplitPart.Test));
        }

        // A fixed expectation: a per-process hash seed (HashCode.Combine) would change this from run to run.
        var testOfA = set.Files.Where(f => f.Label == 0 && parts[f.Path] == SplitPart.Test).Select(f => Path.GetFileName(f.Path)).Order(StringComparer.Ordinal);
        Assert.Equal(ExpectedTestFilesOfClassA, testOfA);
    }

    [Fact]
    public void HoldOut_RemovesTheWholeSubjectOfANamedFile_AndRefusesAFileThatIsNotThere()
    {
        // Subjects: a/00–04 one group, a/05–09 another, b/* one each. Naming a/03 takes out all of a/00–04.
        var set = TwoClasses(10);
        set = set.WithGroups(set.Files.ToDictionary(f => f.Path, f => Path.GetFileName(Path.GetDirectoryName(f.Path)) == "a" ? $"a{int.Parse(Path.GetFileNameWithoutExtension(f.Path), System.Globalization.CultureInfo.InvariantCulture) / 5}" : f.Path));

        var kept = set.WithoutGroupsOf(["a/03.png", "b/07.png"]);

        Assert.Equal(14, kept.Files.Count);
        Assert.DoesNotContain(kept.Files, f => f.Group == "a0" || f.Path.EndsWith("b/07.png", StringComparison.Ordinal));
        Assert.Equal(5, kept.Files.Count(f => f.Group == "a1"));
        var error = Assert.Throws<DatasetException>(() => set.WithoutGroupsOf(["a/99.png"]));
        Assert.Contains("a/99.png", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SplitCsv_ReadsBackWhatWasWritten_EvenPathsWithCommasAndQuotes()
    {
        var set = TwoClasses(3);
        File.WriteAllText(Path.Combine(_root, "a", "odd, \"name\".png"), string.Empty);
        set = LabeledSet.Scan(_root);
        var parts = Splitter.Split(set, 0.5, 0.25, seed: 1);
        var csv = Path.Combine(_root, "split.csv");

        Splitter.Write(csv, set, parts);

        Assert.Equal(set.Files.Select(f => (Path.GetRelativePath(_root, f.Path), parts[f.Path])), Splitter.Read(csv));
        Assert.Contains(Splitter.Read(csv), r => r.Path == "a/odd, \"name\".png");
    }

    // Recorded once from Splitter.Split (seed 0); a change here changes every run's split.
    private static readonly string[] ExpectedTestFilesOfClassA = ["07.png", "09.png"];

    [Fact]
    public void Metrics_MatchValuesComputedByHand()
    {
        // 3 samples of class 0 (2 right), 1 of class 1 (right).
        int[] labels = [0, 0, 0, 1];
        float[] probabilities = [0.9f, 0.1f, 0.8f, 0.2f, 0.3f, 0.7f, 0.4f, 0.6f];

        var m = ClassificationMetrics.Compute(labels, probabilities, ["x", "y"]);

        Assert.Equal(0.75, m.Accuracy, 10);
        Assert.Equal([[2, 1], [0, 1]], m.ConfusionMatrix);
        Assert.Equal(1.0, m.PerClass[0].Precision, 10);           // 2 / 2
        Assert.Equal(2.0 / 3, m.PerClass[0].Recall, 10);          // 2 / 3
        Assert.Equal(0.5, m.PerClass[1].Precision, 10);           // 1 / 2
        Assert.Equal(0.8, m.PerClass[0].F1, 10);                  // 2·1·⅔ / (1 + ⅔)
        Assert.Equal(2.0 / 3, m.PerClass[1].F1, 10);
        // Kappa: p_o = 0.75; p_e = (3·2 + 1·2) / 16 = 0.5; (0.75 − 0.5) / 0.5.
        Assert.Equal(0.5, m.CohenKappa, 10);
        // Class y scores 0.1, 0.2, 0.7 (negatives) and 0.6 (positive): one negative outranks it → AUC 2/3.
        Assert.Equal(2.0 / 3, m.PerClass[1].Auc, 10);
        Assert.Equal(-(Math.Log(0.9) + Math.Log(0.8) + Math.Log(0.3) + Math.Log(0.6)) / 4, m.LogLoss, 6);
    }

    [Fact]
    public void MacroAverages_CountAClassThatIsOnlyPredicted()
    {
        // Class z never occurs but is predicted once: its precision (0) lowers the macro average, as in scikit-learn.
        int[] labels = [0, 1];
        float[] probabilities = [0.9f, 0.05f, 0.05f, 0.1f, 0.1f, 0.8f];

        var m = ClassificationMetrics.Compute(labels, probabilities, ["x", "y", "z"]);

        Assert.Equal(0.5, m.Accuracy, 10);
        Assert.Equal((1.0 + 0 + 0) / 3, m.MacroPrecision, 10);
        Assert.Equal((1.0 + 0 + 0) / 3, m.MacroF1, 10);
    }

    [Fact]
    public void Softmax_IsStableForLargeLogits()
    {
        var p = ClassificationMetrics.Softmax([1000f, 1000f, 0f, 1f], 2);

        Assert.Equal([0.5f, 0.5f], p[..2]);
        Assert.Equal(1f / (1f + MathF.E), p[2], 5);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
