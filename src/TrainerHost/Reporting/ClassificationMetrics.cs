using EdgeMed.Onnx.Runtime;

namespace EdgeMed.TrainerHost.Reporting;

/// <summary>Precision, recall, F1 and support of one class.</summary>
internal sealed record ClassMetrics(string Name, double Precision, double Recall, double F1, int Support, double Auc, double MaxProbabilityMean, double MaxProbabilityStd, double MaxProbabilityMin, double MaxProbabilityMax);

/// <summary>One-vs-rest ROC points of one class.</summary>
internal sealed record RocCurve(string Name, double[] FalsePositiveRate, double[] TruePositiveRate);

/// <summary>Everything the report states about a set of predictions.</summary>
internal sealed record ClassificationMetrics
{
    public required int N { get; init; }

    public required double Accuracy { get; init; }

    public required double MacroF1 { get; init; }

    public required double WeightedF1 { get; init; }

    public required double MacroPrecision { get; init; }

    public required double MacroRecall { get; init; }

    public required double AucMacro { get; init; }

    public required double CohenKappa { get; init; }

    public required double LogLoss { get; init; }

    public required double MeanEntropy { get; init; }

    public required IReadOnlyList<ClassMetrics> PerClass { get; init; }

    public required int[][] ConfusionMatrix { get; init; }

    public required IReadOnlyList<RocCurve> Roc { get; init; }

    /// <summary>Computes the metrics from true labels and softmax probabilities (N × K, row-major).</summary>
    public static ClassificationMetrics Compute(IReadOnlyList<int> labels, ReadOnlySpan<float> probabilities, IReadOnlyList<string> classes)
    {
        var n = labels.Count;
        var k = classes.Count;
        if (n == 0)
        {
            throw new ArgumentException("No predictions to measure.", nameof(labels));
        }

        var predicted = new int[n];
        var confusion = Enumerable.Range(0, k).Select(_ => new int[k]).ToArray();
        double logLoss = 0, entropy = 0;
        var maxProbabilities = Enumerable.Range(0, k).Select(_ => new List<double>()).ToArray();
        for (var i = 0; i < n; i++)
        {
            var row = probabilities.Slice(i * k, k);
            var best = 0;
            for (var c = 1; c < k; c++)
            {
                if (row[c] > row[best])
                {
                    best = c;
                }
            }

            predicted[i] = best;
            confusion[labels[i]][best]++;
            logLoss -= Math.Log(Math.Clamp(row[labels[i]], 1e-15, 1.0));
            for (var c = 0; c < k; c++)
            {
                entropy -= row[c] > 0 ? row[c] * Math.Log(row[c]) : 0;
            }

            // Max probability normalized to [0, 1]: 0 for a uniform guess, 1 for certainty (ARN-CNN paper).
            maxProbabilities[labels[i]].Add((row[best] - (1.0 / k)) / (1 - (1.0 / k)));
        }

        var perClass = new List<ClassMetrics>();
        var roc = new List<RocCurve>();
        for (var c = 0; c < k; c++)
        {
            var tp = confusion[c][c];
            var predictedAs = Enumerable.Range(0, k).Sum(r => confusion[r][c]);
            var support = confusion[c].Sum();
            var precision = predictedAs == 0 ? 0 : (double)tp / predictedAs;
            var recall = support == 0 ? 0 : (double)tp / support;
            var f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            var curve = RocOf(labels, probabilities, k, c, classes[c]);
            roc.Add(curve);
            var mp = maxProbabilities[c];
            var mean = mp.Count > 0 ? mp.Average() : double.NaN;
            var std = mp.Count > 1 ? Math.Sqrt(mp.Sum(v => (v - mean) * (v - mean)) / (mp.Count - 1)) : 0;
            perClass.Add(new ClassMetrics(classes[c], precision, recall, f1, support, Auc(curve),
                mean, std, mp.Count > 0 ? mp.Min() : double.NaN, mp.Count > 0 ? mp.Max() : double.NaN));
        }

        var correct = Enumerable.Range(0, k).Sum(c => confusion[c][c]);
        var accuracy = (double)correct / n;
        double expected = 0;
        for (var c = 0; c < k; c++)
        {
            expected += (double)confusion[c].Sum() * Enumerable.Range(0, k).Sum(r => confusion[r][c]) / ((double)n * n);
        }

        // Macro averages cover every class that occurs in the truth or the predictions (as scikit-learn does), so
        // false positives into a class absent from the data still lower them.
        var present = perClass.Where((p, c) => p.Support > 0 || Enumerable.Range(0, k).Any(r => confusion[r][c] > 0)).ToList();
        return new ClassificationMetrics
        {
            N = n,
            Accuracy = accuracy,
            MacroF1 = present.Average(p => p.F1),
            WeightedF1 = perClass.Sum(p => p.F1 * p.Support) / n,
            MacroPrecision = present.Average(p => p.Precision),
            MacroRecall = present.Average(p => p.Recall),
            AucMacro = perClass.Where(p => !double.IsNaN(p.Auc)).Select(p => p.Auc).DefaultIfEmpty(double.NaN).Average(),
            CohenKappa = expected >= 1 ? 0 : (accuracy - expected) / (1 - expected),
            LogLoss = logLoss / n,
            MeanEntropy = entropy / n,
            PerClass = perClass,
            ConfusionMatrix = confusion,
            Roc = roc,
        };
    }

    /// <summary>Softmax of logits (N × K, row-major), row by row with <see cref="BatchRunner.Softmax"/>.</summary>
    public static float[] Softmax(ReadOnlySpan<float> logits, int k)
    {
        var result = new float[logits.Length];
        Span<double> row = stackalloc double[k];
        for (var i = 0; i < logits.Length / k; i++)
        {
            BatchRunner.Softmax(logits.Slice(i * k, k), row);
            for (var c = 0; c < k; c++)
            {
                result[(i * k) + c] = (float)row[c];
            }
        }

        return result;
    }

    private static RocCurve RocOf(IReadOnlyList<int> labels, ReadOnlySpan<float> probabilities, int k, int c, string name)
    {
        var scored = new (float Score, bool Positive)[labels.Count];
        for (var i = 0; i < labels.Count; i++)
        {
            scored[i] = (probabilities[(i * k) + c], labels[i] == c);
        }

        Array.Sort(scored, (a, b) => b.Score.CompareTo(a.Score));
        var positives = scored.Count(s => s.Positive);
        var negatives = scored.Length - positives;
        var fpr = new List<double> { 0 };
        var tpr = new List<double> { 0 };
        int tp = 0, fp = 0;
        for (var i = 0; i < scored.Length; i++)
        {
            if (scored[i].Positive)
            {
                tp++;
            }
            else
            {
                fp++;
            }

            // One point per distinct score, so ties do not draw a staircase that depends on order.
            if (i == scored.Length - 1 || scored[i + 1].Score != scored[i].Score)
            {
                fpr.Add(negatives == 0 ? 0 : (double)fp / negatives);
                tpr.Add(positives == 0 ? 0 : (double)tp / positives);
            }
        }

        return new RocCurve(name, [.. fpr], [.. tpr]);
    }

    private static double Auc(RocCurve curve)
    {
        if (curve.TruePositiveRate[^1] == 0 || curve.FalsePositiveRate[^1] == 0)
        {
            return double.NaN; // a class with no positives or no negatives has no ROC
        }

        double area = 0;
        for (var i = 1; i < curve.FalsePositiveRate.Length; i++)
        {
            area += (curve.FalsePositiveRate[i] - curve.FalsePositiveRate[i - 1]) * (curve.TruePositiveRate[i] + curve.TruePositiveRate[i - 1]) / 2;
        }

        return area;
    }
}
