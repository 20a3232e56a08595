namespace EdgeMed.Quantization.Calibration;

/// <summary>
/// What calibration learns about one activation tensor, in fixed memory whatever the number of samples: the range
/// (first pass), then a histogram of magnitudes over [0, max |x|] (second pass, for Percentile and Entropy). The
/// threshold T it returns is the symmetric clipping point: int8 scale = T / 127.
/// </summary>
/// <remarks>
/// Two passes instead of a growing histogram keep memory bounded and bins fixed; ONNX Runtime's entropy calibrator
/// collects every value first, which is how it runs out of memory on large calibration sets.
/// </remarks>
public sealed class TensorStatistics
{
    /// <summary>Histogram bins of the second pass.</summary>
    public const int Bins = 2048;

    /// <summary>Quantized levels on one side of zero for int8 (the entropy search's target resolution).</summary>
    public const int QuantizedLevels = 128;

    private readonly long[] _histogram = new long[Bins];
    private double _binWidth;

    /// <summary>Creates statistics for the tensor named <paramref name="name"/>.</summary>
    public TensorStatistics(string name) => Name = name;

    /// <summary>The tensor's name in the graph.</summary>
    public string Name { get; }

    /// <summary>Smallest value seen.</summary>
    public float Min { get; private set; } = float.PositiveInfinity;

    /// <summary>Largest value seen.</summary>
    public float Max { get; private set; } = float.NegativeInfinity;

    /// <summary>Largest magnitude seen.</summary>
    public float AbsMax => Math.Max(Math.Abs(Min), Math.Abs(Max));

    /// <summary>Values seen in the histogram pass.</summary>
    public long Count { get; private set; }

    /// <summary>First pass: widens the range with <paramref name="values"/>. Allocates nothing.</summary>
    public void ObserveRange(ReadOnlySpan<float> values)
    {
        var min = Min;
        var max = Max;
        foreach (var v in values)
        {
            if (float.IsFinite(v))
            {
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
        }

        (Min, Max) = (min, max);
    }

    /// <summary>Second pass: counts magnitudes of <paramref name="values"/> into the fixed bins. Allocates nothing.</summary>
    public void ObserveHistogram(ReadOnlySpan<float> values)
    {
        if (_binWidth == 0)
        {
            _binWidth = AbsMax > 0 ? AbsMax / Bins : 1;
        }

        var scale = 1 / _binWidth;
        foreach (var v in values)
        {
            if (float.IsFinite(v))
            {
                _histogram[Math.Min(Bins - 1, (int)(Math.Abs(v) * scale))]++;
            }
        }

        Count += values.Length;
    }

    /// <summary>The clipping threshold for <paramref name="method"/>; percentiles in (0, 100].</summary>
    public float Threshold(CalibrationMethod method, double percentile = 99.99)
    {
        if (!(AbsMax > 0))
        {
            return 1e-8f; // an all-zero tensor: any scale represents it exactly
        }

        if (method == CalibrationMethod.MinMax)
        {
            return AbsMax;
        }

        if (Count == 0)
        {
            throw new InvalidOperationException($"{method} calibration of {Name} needs the histogram pass.");
        }

        return method == CalibrationMethod.Percentile ? PercentileThreshold(percentile) : EntropyThreshold();
    }

    private float PercentileThreshold(double percentile)
    {
        var target = percentile / 100 * Count;
        long cumulative = 0;
        for (var bin = 0; bin < Bins; bin++)
        {
            var inBin = _histogram[bin];
            if (cumulative + inBin >= target && inBin > 0)
            {
                // Spread evenly inside the bin.
                var within = (target - cumulative) / inBin;
                return (float)Math.Min(AbsMax, (bin + within) * _binWidth);
            }

            cumulative += inBin;
        }

        return AbsMax;
    }

    /// <summary>
    /// For each candidate cut i (128…2048 bins): P is the histogram up to i with everything beyond folded into bin i−1;
    /// Q is the histogram up to i (outliers left out) merged into 128 levels and spread back over its non-empty bins;
    /// the cut with the smallest KL(P‖Q) wins (TensorRT's entropy calibration).
    /// </summary>
    private float EntropyThreshold()
    {
        var p = new double[Bins];
        var q = new double[Bins];
        var best = Bins;
        var bestDivergence = double.PositiveInfinity;
        var tail = new long[Bins + 1];
        for (var b = Bins - 1; b >= 0; b--)
        {
            tail[b] = tail[b + 1] + _histogram[b];
        }

        for (var i = QuantizedLevels; i <= Bins; i++)
        {
            for (var b = 0; b < i; b++)
            {
                p[b] = _histogram[b];
            }

            p[i - 1] += tail[i];
            var merge = (double)i / QuantizedLevels;
            for (var level = 0; level < QuantizedLevels; level++)
            {
                var start = (int)Math.Round(level * merge);
                var end = (int)Math.Round((level + 1) * merge);
                double total = 0;
                var nonEmpty = 0;
                for (var b = start; b < end; b++)
                {
                    total += _histogram[b];
                    nonEmpty += _histogram[b] > 0 ? 1 : 0;
                }

                // Q is built from the unclipped histogram: the folded outliers are what it cannot represent,
                // which is the divergence the search weighs against coarser steps.
                for (var b = start; b < end; b++)
                {
                    q[b] = _histogram[b] > 0 ? total / nonEmpty : 0;
                }
            }

            var divergence = KullbackLeibler(p.AsSpan(0, i), q.AsSpan(0, i));
            if (divergence < bestDivergence)
            {
                bestDivergence = divergence;
                best = i;
            }
        }

        return (float)Math.Min(AbsMax, (best + 0.5) * _binWidth);
    }

    private static double KullbackLeibler(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        double sumP = 0, sumQ = 0;
        for (var b = 0; b < p.Length; b++)
        {
            sumP += p[b];
            sumQ += q[b];
        }

        if (sumP == 0 || sumQ == 0)
        {
            return double.PositiveInfinity;
        }

        double divergence = 0;
        for (var b = 0; b < p.Length; b++)
        {
            if (p[b] > 0)
            {
                // Where Q is empty but P is not (folded outliers), the floor makes the divergence large, not infinite.
                divergence += p[b] / sumP * Math.Log(p[b] / sumP / Math.Max(q[b] / sumQ, 1e-12));
            }
        }

        return divergence;
    }
}
