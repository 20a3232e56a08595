using EdgeMed.DicomIngest.Images;
using EdgeMed.TrainerHost.Reporting;

namespace EdgeMed.TrainerHost.Tests;

/// <summary>The report's four figures, rendered by ScottPlot from a made-up evaluation.</summary>
public sealed class ReportFigureTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("edgemed-figures-").FullName;

    [Fact]
    public void Report_WritesReadableFigures_WithTitlesAndLegendsDrawn()
    {
        string[] classes = ["MildDemented", "ModerateDemented", "NonDemented", "VeryMildDemented"];
        var random = new Random(3);
        var labels = Enumerable.Range(0, 120).Select(i => i % 4 == 1 && i > 8 ? 2 : i % 4).ToArray();
        var probabilities = labels.SelectMany(l => Enumerable.Range(0, 4).Select(c => (float)((c == l ? 2.0 : 0.5) + random.NextDouble()))).ToArray();
        for (var i = 0; i < labels.Length; i++)
        {
            var row = probabilities.AsSpan(i * 4, 4);
            var sum = 0f;
            foreach (var p in row)
            {
                sum += p;
            }

            for (var c = 0; c < 4; c++)
            {
                row[c] /= sum;
            }
        }

        var metrics = ClassificationMetrics.Compute(labels, probabilities, classes);
        var features = Enumerable.Range(0, labels.Length * 8).Select(i => (float)(random.NextDouble() + labels[i / 8])).ToArray();
        EpochRecord[] history = [new(1, 1.2, 0.45, 1.1, 0.5, 1e-3, 60), new(2, 0.9, 0.6, 1.0, 0.55, 8e-4, 61), new(3, 0.7, 0.7, 0.95, 0.6, 2e-4, 59)];

        ReportWriter.Write(_folder, "figures", metrics, classes, features, 8, labels, history, ["test"]);

        foreach (var (file, minWidth) in new[] { ("curves.png", 1000), ("confusion_matrix.png", 560), ("roc.png", 600), ("pca.png", 1400) })
        {
            var png = PngCodec.Read(File.ReadAllBytes(Path.Combine(_folder, file)));
            Assert.True(png.Width >= minWidth && png.Height >= 400, $"{file} is {png.Width}×{png.Height}");

            // Text is drawn in anti-aliased gray levels; a figure without its font would have almost none.
            var grays = new HashSet<int>();
            for (var p = 0; p < png.Width * png.Height; p++)
            {
                var (r, g, b) = (png.Samples[p * png.Channels], png.Samples[(p * png.Channels) + 1], png.Samples[(p * png.Channels) + 2]);
                if (r == g && g == b)
                {
                    grays.Add(r);
                }
            }

            Assert.True(grays.Count > 40, $"{file}: {grays.Count} gray levels, so little text");
        }
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
