using EdgeMed.Quantization.Calibration;
using Xunit.Abstractions;

namespace EdgeMed.Quantization.Tests;

[Collection(ThreadAllocations.Collection)]
public sealed class CalibrationTests(ITestOutputHelper output)
{
    private static TensorStatistics Calibrate(IEnumerable<float[]> batches)
    {
        var list = batches.ToList();
        var stats = new TensorStatistics("t");
        foreach (var b in list)
        {
            stats.ObserveRange(b);
        }

        foreach (var b in list)
        {
            stats.ObserveHistogram(b);
        }

        return stats;
    }

    private static IEnumerable<float[]> Batches(Func<Random, float> draw, int batches, int size, int seed)
    {
        var random = new Random(seed);
        for (var b = 0; b < batches; b++)
        {
            yield return [.. Enumerable.Range(0, size).Select(_ => draw(random))];
        }
    }

    [Fact]
    public void MinMax_IsTheLargestMagnitude()
    {
        var stats = Calibrate([[0.5f, -3.25f, 2f], [1f, 0f, -0.1f]]);

        Assert.Equal(3.25f, stats.Threshold(CalibrationMethod.MinMax));
        Assert.Equal((-3.25f, 2f), (stats.Min, stats.Max));
    }

    [Fact]
    public void Percentile_OfAUniformSample_IsThatQuantileOfItsMagnitudes()
    {
        // |U(−1, 1)| is uniform on [0, 1]: its 99th percentile is 0.99 and its 50th is 0.5.
        var stats = Calibrate(Batches(r => (float)((r.NextDouble() * 2) - 1), 50, 10_000, 1));
        var bin = stats.AbsMax / TensorStatistics.Bins;

        Assert.InRange(stats.Threshold(CalibrationMethod.Percentile, 99), 0.99 - 0.002 - bin, 0.99 + 0.002 + bin);
        Assert.InRange(stats.Threshold(CalibrationMethod.Percentile, 50), 0.5 - 0.005, 0.5 + 0.005);
        Assert.InRange(stats.Threshold(CalibrationMethod.Percentile, 99.99), 0.998, 1.0);
    }

    [Fact]
    public void Entropy_OnABimodalSample_ClipsTheRareFarModeButKeepsTheBulk()
    {
        // 99.9% of values from N(0, 1), 0.1% near ±40: MinMax keeps 40 and wastes most int8 levels;
        // the KL search clips the rare mode and keeps a few sigma of the bulk.
        float Draw(Random r) => r.NextDouble() < 0.001
            ? (float)((r.Next(2) == 0 ? -40 : 40) + r.NextDouble())
            : (float)(Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()));
        var stats = Calibrate(Batches(Draw, 20, 10_000, 2));

        var entropy = stats.Threshold(CalibrationMethod.Entropy);
        output.WriteLine($"MinMax {stats.Threshold(CalibrationMethod.MinMax):F2}, Entropy {entropy:F2}, Percentile 99.99 {stats.Threshold(CalibrationMethod.Percentile):F2}");

        Assert.True(stats.Threshold(CalibrationMethod.MinMax) > 40);
        Assert.InRange(entropy, 2.5f, 20f);
    }

    [Fact]
    public void Entropy_OnAUniformSample_KeepsNearlyTheWholeRange()
    {
        // Nothing to clip: every value is as likely as the largest.
        var stats = Calibrate(Batches(r => (float)((r.NextDouble() * 6) - 3), 20, 10_000, 3));

        Assert.InRange(stats.Threshold(CalibrationMethod.Entropy), 2.7f, 3.0f);
    }

    [Fact]
    public void TenTimesMoreSamples_CostNoMoreMemory()
    {
        var small = Batches(r => (float)r.NextDouble(), 2, 4096, 4).ToList();
        var stats = new TensorStatistics("t");
        stats.ObserveRange(small[0]);
        stats.ObserveHistogram(small[0]); // first call sizes the bins

        var allocated = ThreadAllocations.Of(() =>
        {
            for (var i = 0; i < 10; i++)
            {
                stats.ObserveRange(small[1]);
            }

            for (var i = 0; i < 10; i++)
            {
                stats.ObserveHistogram(small[1]);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(11 * 4096, stats.Count);
    }

    [Fact]
    public void AllZeroTensor_GetsATinyPositiveThreshold()
    {
        var stats = Calibrate([new float[16]]);

        Assert.True(stats.Threshold(CalibrationMethod.Entropy) > 0);
    }

    [Fact]
    public void HistogramMethods_WithoutTheHistogramPass_Throw()
    {
        var stats = new TensorStatistics("t");
        stats.ObserveRange([1f, 2f]);

        Assert.Throws<InvalidOperationException>(() => stats.Threshold(CalibrationMethod.Percentile));
    }
}
