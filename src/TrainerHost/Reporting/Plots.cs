using EdgeMed.DicomIngest.Images;

namespace EdgeMed.TrainerHost.Reporting;

/// <summary>
/// The report's figures as PNG, drawn on a plain RGB canvas (no plotting library is available here). Figures carry
/// no text; report.md states each one's axes and colors, which follow <see cref="Palette"/> in class order.
/// </summary>
internal static class Plots
{
    /// <summary>Class and series colors, in order: blue, orange, green, red, purple, brown, pink, gray.</summary>
    public static readonly (byte R, byte G, byte B)[] Palette =
    [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127),
    ];

    public static readonly string[] PaletteNames = ["blue", "orange", "green", "red", "purple", "brown", "pink", "gray"];

    /// <summary>Loss (left) and accuracy (right) per epoch; training blue, validation orange.</summary>
    public static byte[] Curves(IReadOnlyList<(double TrainLoss, double? ValLoss, double TrainAcc, double? ValAcc)> epochs)
    {
        var canvas = new Canvas(840, 360);
        var losses = epochs.SelectMany(e => new[] { e.TrainLoss, e.ValLoss ?? e.TrainLoss }).ToArray();
        var lossMax = losses.Length == 0 ? 1 : Math.Max(1e-6, losses.Max() * 1.05);
        var left = new Panel(canvas, 40, 20, 360, 300, 1, Math.Max(1, epochs.Count), 0, lossMax);
        var right = new Panel(canvas, 440, 20, 360, 300, 1, Math.Max(1, epochs.Count), 0, 1);
        left.Frame();
        right.Frame();
        right.HorizontalGrid(0.25);
        left.Series(epochs.Select((e, i) => (i + 1.0, e.TrainLoss)), Palette[0]);
        left.Series(epochs.Where(e => e.ValLoss is not null).Select((e, i) => (i + 1.0, e.ValLoss!.Value)), Palette[1]);
        right.Series(epochs.Select((e, i) => (i + 1.0, e.TrainAcc)), Palette[0]);
        right.Series(epochs.Where(e => e.ValAcc is not null).Select((e, i) => (i + 1.0, e.ValAcc!.Value)), Palette[1]);
        return canvas.ToPng();
    }

    /// <summary>Confusion matrix: rows true class, columns predicted, white (0) to dark blue (the whole row).</summary>
    public static byte[] Confusion(int[][] matrix)
    {
        var k = matrix.Length;
        var cell = Math.Max(24, 360 / Math.Max(1, k));
        var canvas = new Canvas((cell * k) + 2, (cell * k) + 2);
        for (var r = 0; r < k; r++)
        {
            var total = Math.Max(1, matrix[r].Sum());
            for (var c = 0; c < k; c++)
            {
                var share = (double)matrix[r][c] / total;
                var shade = (byte)(255 - (share * 200));
                canvas.Fill(1 + (c * cell), 1 + (r * cell), cell - 1, cell - 1, ((byte)(shade * 0.6), (byte)(shade * 0.75), 255));
            }
        }

        return canvas.ToPng();
    }

    /// <summary>One-vs-rest ROC per class (class colors), false positive rate across, true positive rate up; gray diagonal.</summary>
    public static byte[] Roc(IReadOnlyList<RocCurve> curves)
    {
        var canvas = new Canvas(440, 440);
        var panel = new Panel(canvas, 30, 20, 390, 390, 0, 1, 0, 1);
        panel.Frame();
        panel.Series([(0, 0), (1, 1)], (200, 200, 200));
        for (var c = 0; c < curves.Count; c++)
        {
            panel.Series(curves[c].FalsePositiveRate.Zip(curves[c].TruePositiveRate), Palette[c % Palette.Length]);
        }

        return canvas.ToPng();
    }

    /// <summary>Features projected on their first three principal components: PC1×PC2, PC1×PC3, PC2×PC3, points in class colors.</summary>
    public static byte[] Pca(float[] features, int width, IReadOnlyList<int> labels)
    {
        var projected = Pca3(features, width, labels.Count);
        var canvas = new Canvas(1140, 380);
        (int X, int Y)[] pairs = [(0, 1), (0, 2), (1, 2)];
        for (var p = 0; p < 3; p++)
        {
            var (a, b) = pairs[p];
            var xs = Enumerable.Range(0, labels.Count).Select(i => projected[(i * 3) + a]).ToArray();
            var ys = Enumerable.Range(0, labels.Count).Select(i => projected[(i * 3) + b]).ToArray();
            var panel = new Panel(canvas, 20 + (p * 375), 20, 340, 340, Min(xs), Max(xs), Min(ys), Max(ys));
            panel.Frame();
            for (var i = 0; i < labels.Count; i++)
            {
                panel.Point(xs[i], ys[i], Palette[labels[i] % Palette.Length]);
            }
        }

        return canvas.ToPng();
    }

    private static double Min(double[] v) => v.Length == 0 ? 0 : v.Min();

    private static double Max(double[] v) => v.Length == 0 ? 1 : Math.Max(v.Max(), v.Min() + 1e-9);

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

    private sealed class Canvas(int width, int height)
    {
        private readonly ushort[] _rgb = Enumerable.Repeat((ushort)255, width * height * 3).ToArray();

        public int Width => width;

        public int Height => height;

        public void Set(int x, int y, (byte R, byte G, byte B) color)
        {
            if (x < 0 || y < 0 || x >= width || y >= height)
            {
                return;
            }

            var i = ((y * width) + x) * 3;
            (_rgb[i], _rgb[i + 1], _rgb[i + 2]) = (color.R, color.G, color.B);
        }

        public void Fill(int x, int y, int w, int h, (byte R, byte G, byte B) color)
        {
            for (var yy = y; yy < y + h; yy++)
            {
                for (var xx = x; xx < x + w; xx++)
                {
                    Set(xx, yy, color);
                }
            }
        }

        public void Line(double x0, double y0, double x1, double y1, (byte R, byte G, byte B) color, int thickness = 2)
        {
            var steps = (int)Math.Max(1, Math.Max(Math.Abs(x1 - x0), Math.Abs(y1 - y0)));
            for (var s = 0; s <= steps; s++)
            {
                var x = (int)Math.Round(x0 + ((x1 - x0) * s / steps));
                var y = (int)Math.Round(y0 + ((y1 - y0) * s / steps));
                Fill(x - (thickness / 2), y - (thickness / 2), thickness, thickness, color);
            }
        }

        public byte[] ToPng() => PngCodec.Write(new PngImage(width, height, 3, 8, _rgb));
    }

    private sealed class Panel(Canvas canvas, int left, int top, int width, int height, double xMin, double xMax, double yMin, double yMax)
    {
        private static readonly (byte, byte, byte) Axis = (60, 60, 60);

        private double X(double x) => left + ((x - xMin) / Math.Max(1e-12, xMax - xMin) * width);

        private double Y(double y) => top + height - ((y - yMin) / Math.Max(1e-12, yMax - yMin) * height);

        public void Frame()
        {
            canvas.Line(left, top, left, top + height, Axis, 1);
            canvas.Line(left, top + height, left + width, top + height, Axis, 1);
        }

        public void HorizontalGrid(double step)
        {
            for (var y = yMin + step; y < yMax + 1e-9; y += step)
            {
                canvas.Line(left, Y(y), left + width, Y(y), (225, 225, 225), 1);
            }
        }

        public void Series(IEnumerable<(double X, double Y)> points, (byte R, byte G, byte B) color)
        {
            (double X, double Y)? previous = null;
            foreach (var p in points)
            {
                if (previous is { } q)
                {
                    canvas.Line(X(q.X), Y(q.Y), X(p.X), Y(p.Y), color);
                }
                else
                {
                    canvas.Fill((int)X(p.X) - 2, (int)Y(p.Y) - 2, 4, 4, color);
                }

                previous = p;
            }
        }

        public void Point(double x, double y, (byte R, byte G, byte B) color) => canvas.Fill((int)X(x) - 2, (int)Y(y) - 2, 4, 4, color);
    }
}
