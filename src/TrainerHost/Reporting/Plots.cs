using ScottPlot;

namespace EdgeMed.TrainerHost.Reporting;

/// <summary>
/// The report's figures as PNG, drawn with ScottPlot (SkiaSharp) in DejaVu Sans from Debian's fonts-dejavu-core:
/// titles, axis labels and legends on every figure; classes keep <see cref="Palette"/>'s colors in class order.
/// </summary>
internal static class Plots
{
    /// <summary>Class and series colors, in order: blue, orange, green, red, purple, brown, pink, gray.</summary>
    public static readonly (byte R, byte G, byte B)[] Palette =
    [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127),
    ];

    public static readonly string[] PaletteNames = ["blue", "orange", "green", "red", "purple", "brown", "pink", "gray"];

    private const string Font = "DejaVu Sans";

    private const string FontFolder = "/usr/share/fonts/truetype/dejavu";

    /// <summary>
    /// Registers DejaVu Sans from its files: SkiaSharp's dependency-free native build finds no system fonts by
    /// family name where fontconfig is absent (a fresh Debian), and text would then not be drawn.
    /// </summary>
    static Plots()
    {
        if (!File.Exists(Path.Combine(FontFolder, "DejaVuSans.ttf")))
        {
            throw new InvalidOperationException($"{FontFolder}/DejaVuSans.ttf is missing: install Debian's fonts-dejavu-core (./edgemed.sh setup does).");
        }

        ScottPlot.Fonts.AddFontFile(Font, Path.Combine(FontFolder, "DejaVuSans.ttf"), bold: false, italic: false);
        ScottPlot.Fonts.AddFontFile(Font, Path.Combine(FontFolder, "DejaVuSans-Bold.ttf"), bold: true, italic: false);
    }

    /// <summary>Loss (left) and accuracy (right) per epoch, training and validation.</summary>
    public static byte[] Curves(IReadOnlyList<(double TrainLoss, double? ValLoss, double TrainAcc, double? ValAcc)> epochs)
    {
        var loss = NewPlot("Loss per epoch", "epoch", "loss");
        var accuracy = NewPlot("Accuracy per epoch", "epoch", "accuracy");
        var x = Enumerable.Range(1, epochs.Count).Select(e => (double)e).ToArray();
        Line(loss, x, [.. epochs.Select(e => e.TrainLoss)], "training", 0);
        Line(accuracy, x, [.. epochs.Select(e => e.TrainAcc)], "training", 0);
        var withVal = epochs.Select((e, i) => (Epoch: i + 1.0, e.ValLoss, e.ValAcc)).Where(e => e.ValLoss is not null).ToArray();
        if (withVal.Length > 0)
        {
            Line(loss, [.. withVal.Select(e => e.Epoch)], [.. withVal.Select(e => e.ValLoss!.Value)], "validation", 1);
            Line(accuracy, [.. withVal.Select(e => e.Epoch)], [.. withVal.Select(e => e.ValAcc ?? 0)], "validation", 1);
        }

        accuracy.Axes.SetLimitsY(0, 1);
        loss.ShowLegend(Alignment.UpperRight);
        accuracy.ShowLegend(Alignment.LowerRight);
        return SideBySide([loss, accuracy], 560, 400);
    }

    /// <summary>Confusion matrix: rows true class, columns predicted; each cell shows its count and share of the row.</summary>
    public static byte[] Confusion(int[][] matrix, IReadOnlyList<string> classes)
    {
        var k = matrix.Length;
        var plot = NewPlot("Confusion matrix (share of each true class)", "predicted class", "true class");
        var shares = new double[k, k];
        for (var r = 0; r < k; r++)
        {
            var total = Math.Max(1, matrix[r].Sum());
            for (var c = 0; c < k; c++)
            {
                shares[r, c] = (double)matrix[r][c] / total;
            }
        }

        var heatmap = plot.Add.Heatmap(shares);
        heatmap.Colormap = new ScottPlot.Colormaps.Blues().Reversed(); // white for none of the row, dark blue for all of it
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        plot.Add.ColorBar(heatmap).Label = "share of the row";
        for (var r = 0; r < k; r++)
        {
            for (var c = 0; c < k; c++)
            {
                // Heatmap row 0 is drawn at the top, at y = k - 1.
                var text = plot.Add.Text($"{matrix[r][c]}\n{shares[r, c]:P0}", c, k - 1 - r);
                text.LabelFontName = Font;
                text.LabelFontSize = 14;
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontColor = shares[r, c] > 0.5 ? Colors.White : Colors.Black;
            }
        }

        var ticks = Enumerable.Range(0, k).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.SetTicks(ticks, [.. classes]);
        plot.Axes.Left.SetTicks(ticks, [.. classes.Reverse()]);
        plot.Axes.Bottom.TickLabelStyle.FontName = Font;
        plot.Axes.Left.TickLabelStyle.FontName = Font;
        return plot.GetImageBytes(Math.Max(560, 130 * k + 240), Math.Max(460, 110 * k + 120), ImageFormat.Png);
    }

    /// <summary>One-vs-rest ROC per class with its AUC in the legend; the chance diagonal in gray.</summary>
    public static byte[] Roc(IReadOnlyList<RocCurve> curves, IReadOnlyList<double> aucs)
    {
        var plot = NewPlot("ROC, one class against the rest", "false positive rate", "true positive rate");
        var chance = plot.Add.Line(0, 0, 1, 1);
        chance.Color = Colors.Gray;
        chance.LinePattern = LinePattern.Dashed;
        chance.LegendText = "chance";
        for (var c = 0; c < curves.Count; c++)
        {
            if (curves[c].FalsePositiveRate.Length == 0 || double.IsNaN(aucs[c]))
            {
                continue; // a class absent from the data (or the only one present) has no curve
            }

            Line(plot, curves[c].FalsePositiveRate, curves[c].TruePositiveRate, $"{curves[c].Name} (AUC {aucs[c]:F3})", c);
        }

        plot.Axes.SetLimits(0, 1, 0, 1);
        plot.ShowLegend(Alignment.LowerRight);
        return plot.GetImageBytes(620, 560, ImageFormat.Png);
    }

    /// <summary>Features projected on their first three principal components: PC1×PC2, PC1×PC3, PC2×PC3, one color per class.</summary>
    public static byte[] Pca(float[] features, int width, IReadOnlyList<int> labels, IReadOnlyList<string> classes)
    {
        var projected = Pca3(features, width, labels.Count);
        (int X, int Y)[] pairs = [(0, 1), (0, 2), (1, 2)];
        var plots = new List<Plot>();
        foreach (var (a, b) in pairs)
        {
            var plot = NewPlot($"PC{a + 1} × PC{b + 1}", $"PC{a + 1}", $"PC{b + 1}");
            for (var c = 0; c < classes.Count; c++)
            {
                var members = Enumerable.Range(0, labels.Count).Where(i => labels[i] == c).ToArray();
                if (members.Length == 0)
                {
                    continue;
                }

                var points = plot.Add.ScatterPoints(members.Select(i => projected[(i * 3) + a]).ToArray(), members.Select(i => projected[(i * 3) + b]).ToArray());
                points.Color = ColorOf(c).WithAlpha(0.7);
                points.MarkerSize = 5;
                points.LegendText = classes[c];
            }

            plot.ShowLegend(Alignment.UpperRight);
            plots.Add(plot);
        }

        return SideBySide([.. plots], 480, 440);
    }

    /// <summary>Projection (N × 3) onto the top three eigenvectors of the features' covariance, by power iteration with deflation.</summary>
    internal static double[] Pca3(float[] features, int width, int n)
    {
        var mean = new double[width];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < width; j++)
            {
                mean[j] += features[(i * width) + j] / (double)n;
            }
        }

        var covariance = new double[width, width];
        var row = new double[width];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < width; j++)
            {
                row[j] = features[(i * width) + j] - mean[j];
            }

            for (var a = 0; a < width; a++)
            {
                if (row[a] == 0)
                {
                    continue;
                }

                for (var b = a; b < width; b++)
                {
                    covariance[a, b] += row[a] * row[b];
                }
            }
        }

        for (var a = 0; a < width; a++)
        {
            for (var b = 0; b < a; b++)
            {
                covariance[a, b] = covariance[b, a];
            }
        }

        var components = new double[3][];
        var random = new Random(0);
        for (var c = 0; c < 3; c++)
        {
            var v = Enumerable.Range(0, width).Select(_ => random.NextDouble() - 0.5).ToArray();
            for (var iteration = 0; iteration < 200; iteration++)
            {
                var next = new double[width];
                for (var a = 0; a < width; a++)
                {
                    double sum = 0;
                    for (var b = 0; b < width; b++)
                    {
                        sum += covariance[a, b] * v[b];
                    }

                    next[a] = sum;
                }

                for (var p = 0; p < c; p++)
                {
                    var dot = next.Zip(components[p]).Sum(t => t.First * t.Second);
                    for (var a = 0; a < width; a++)
                    {
                        next[a] -= dot * components[p][a];
                    }
                }

                var norm = Math.Sqrt(next.Sum(x => x * x));
                if (norm < 1e-12)
                {
                    break;
                }

                v = next.Select(x => x / norm).ToArray();
            }

            components[c] = v;
        }

        var projected = new double[n * 3];
        for (var i = 0; i < n; i++)
        {
            for (var c = 0; c < 3; c++)
            {
                double sum = 0;
                for (var j = 0; j < width; j++)
                {
                    sum += (features[(i * width) + j] - mean[j]) * components[c][j];
                }

                projected[(i * 3) + c] = sum;
            }
        }

        return projected;
    }

    private static Plot NewPlot(string title, string x, string y)
    {
        var plot = new Plot();
        plot.Font.Set(Font);
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel(y);
        return plot;
    }

    private static void Line(Plot plot, double[] x, double[] y, string label, int color)
    {
        var line = plot.Add.ScatterLine(x, y);
        line.Color = ColorOf(color);
        line.LineWidth = 2;
        line.LegendText = label;
    }

    private static Color ColorOf(int index)
    {
        var (r, g, b) = Palette[index % Palette.Length];
        return new Color(r, g, b);
    }

    /// <summary>Panels of equal size in one row, as one PNG.</summary>
    private static byte[] SideBySide(Plot[] plots, int width, int height)
    {
        var multiplot = new Multiplot();
        multiplot.Reset(plots[0]); // a new multiplot holds one empty plot of its own
        foreach (var plot in plots.Skip(1))
        {
            multiplot.AddPlot(plot);
        }

        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        using var image = multiplot.Render(width * plots.Length, height);
        return image.GetImageBytes(ImageFormat.Png);
    }
}
