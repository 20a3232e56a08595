using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.Onnx.Runtime;

namespace EdgeMed.EdgeAgent.Pipeline;

/// <summary>Per-slice probabilities from logits, and the series result from its slices.</summary>
public static class SeriesVerdict
{
    /// <summary>Softmax of one row of logits (the one implementation, <see cref="BatchRunner.Softmax"/>).</summary>
    public static double[] Softmax(ReadOnlySpan<float> logits)
    {
        var p = new double[logits.Length];
        BatchRunner.Softmax(logits, p);
        return p;
    }

    /// <summary>Entropy in nats.</summary>
    public static double Entropy(IEnumerable<double> probabilities) =>
        -probabilities.Where(p => p > 0).Sum(p => p * Math.Log(p));

    /// <summary>
    /// The series result over all of its slices: mean probabilities, the class with the highest mean, the slice most
    /// confident of that class, the low-confidence flag (mean top probability below <paramref name="minConfidence"/> or
    /// entropy / ln(classes) above <paramref name="maxNormalizedEntropy"/>) and input quality flags.
    /// </summary>
    public static SeriesSummary Summarize(string seriesInstanceUid, IReadOnlyList<string> classes, IReadOnlyList<SliceResult> slices, double minConfidence, double maxNormalizedEntropy, int minSlices)
    {
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentNullException.ThrowIfNull(slices);
        if (slices.Count == 0)
        {
            throw new ArgumentException("a series result needs at least one slice", nameof(slices));
        }

        var mean = classes.ToDictionary(c => c, c => slices.Average(s => s.Probabilities.GetValueOrDefault(c)), StringComparer.Ordinal);
        var predicted = classes.MaxBy(c => mean[c])!;
        var best = slices.OrderByDescending(s => s.Probabilities.GetValueOrDefault(predicted)).ThenBy(s => s.SopInstanceUid, StringComparer.Ordinal).ThenBy(s => s.Frame).First();
        var entropy = Entropy(mean.Values);
        var low = mean[predicted] < minConfidence || (classes.Count > 1 && entropy / Math.Log(classes.Count) > maxNormalizedEntropy);
        return new SeriesSummary(seriesInstanceUid, slices.Count, mean, predicted, mean[predicted], entropy, best, low, QualityFlags(slices, minSlices));
    }

    /// <summary>few-slices, duplicate-positions, gaps (a step over 1.5 × the median), mixed-models.</summary>
    internal static string QualityFlags(IReadOnlyList<SliceResult> slices, int minSlices)
    {
        var flags = new List<string>();
        if (slices.Count < minSlices)
        {
            flags.Add("few-slices");
        }

        var positions = slices.Where(s => s.Position is not null).Select(s => s.Position!.Value).Order().ToList();
        if (positions.Count >= 3)
        {
            var steps = positions.Zip(positions.Skip(1), (a, b) => b - a).ToList();
            if (steps.Any(s => s < 0.01))
            {
                flags.Add("duplicate-positions");
            }

            var median = steps.Order().ElementAt(steps.Count / 2);
            if (median > 0.01 && steps.Any(s => s > 1.5 * median))
            {
                flags.Add("gaps");
            }
        }

        if (slices.Select(s => s.ModelSha256).Distinct(StringComparer.Ordinal).Count() > 1)
        {
            flags.Add("mixed-models");
        }

        return string.Join(',', flags);
    }
}
