using EdgeMed.DicomIngest;
using EdgeMed.DicomIngest.Normalization;
using EdgeMed.EdgeAgent.Explain;
using EdgeMed.Onnx.Model;
using EdgeMed.Onnx.Runtime;
using EdgeMed.Packages;
using EdgeMed.Tests;
using Google.Protobuf;
using Xunit.Abstractions;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 15, item 1: Grad-CAM over the shipped int8 IConvNeXt-Tiny's last stage, computed from the package's own graph
/// (no PyTorch): the head read out of the graph gives the model's logits, its gradient is the exact one (finite
/// differences agree), and the maps are faithful — masking the hottest tenth of a slice lowers the predicted class's
/// probability more than masking a random tenth, on the labeled sample series (slices of our validation split).
/// </summary>
public sealed class GradCamTests(ITestOutputHelper output)
{
    private static readonly string Package = Path.Combine(SharedData.Repository, "models", "iconvnext-tiny-alzheimer");

    private sealed record Run(float[] Input, double[] Logits, float[] FeatureMap, int Height, int Width);

    [Fact]
    public void TheHeadReadFromTheInt8Graph_GivesTheModelsClass_AndLogitsWithinItsRounding()
    {
        var (cam, runs) = Explain(SampleSlices().Take(12));
        var worst = 0.0;
        foreach (var run in runs)
        {
            var logits = cam.Logits(run.FeatureMap, run.Height, run.Width);
            Assert.Equal(ArgMax(run.Logits), ArgMax(logits));
            worst = Math.Max(worst, run.Logits.Zip(logits, (a, b) => Math.Abs(a - b)).Max());
        }

        output.WriteLine($"largest |Δlogit| between ONNX Runtime's int8 head and the dequantized head: {worst:F4}");
        Assert.True(worst < 0.25, $"|Δlogit| {worst}");
    }

    [Fact]
    public void TheGradient_IsTheExactOne_FiniteDifferencesAgree()
    {
        var (cam, runs) = Explain(SampleSlices().Take(2));
        var run = runs[0];
        var pooled = cam.Pool(run.FeatureMap, run.Height, run.Width);
        var target = ArgMax(run.Logits);
        var gradient = cam.PooledGradient(run.FeatureMap, run.Height, run.Width, target);
        var random = new Random(7);
        const double Step = 1e-5;
        for (var n = 0; n < 64; n++)
        {
            var i = random.Next(pooled.Length);
            var plus = (double[])pooled.Clone();
            var minus = (double[])pooled.Clone();
            plus[i] += Step;
            minus[i] -= Step;
            var numeric = (cam.LogitsOfPooled(plus)[target] - cam.LogitsOfPooled(minus)[target]) / (2 * Step);
            Assert.True(Math.Abs(numeric - gradient[i]) <= 1e-5 + (1e-4 * Math.Abs(numeric)), $"coordinate {i}: analytic {gradient[i]}, numeric {numeric}");
        }
    }

    [Fact]
    public void MaskingTheHottestTenth_LowersThePredictedClassMoreThanARandomTenth()
    {
        var slices = SampleSlices().ToList();
        var (cam, runs) = Explain(slices);
        using var session = OnnxSession.Open(Path.Combine(Package, "model.onnx"), new OnnxSessionOptions { IntraOpThreads = 2 });
        var size = Settings.Size;
        var masked = (int)(0.1 * size * size);
        var random = new Random(11);
        double hotDrop = 0, randomDrop = 0;
        foreach (var run in runs)
        {
            var target = ArgMax(run.Logits);
            var before = Softmax(run.Logits)[target];
            var raw = cam.Map(run.FeatureMap, run.Height, run.Width, target);
            var background = run.Input.Min(); // what a masked pixel becomes: the slice's darkest value (air)
            hotDrop += before - Softmax(Logits(session, Masked(run.Input, Hottest(raw, run.Height, run.Width, size, masked), background)))[target];
            for (var r = 0; r < 4; r++)
            {
                // The random tenth has the map's own shape (its values moved to random cells of the brain, then
                // upsampled the same way): scattered single pixels would disturb the slice as noise does, and cells of
                // air would change nothing when masked; either would prove nothing.
                var brain = Enumerable.Range(0, raw.Length).Where(c => CellMean(run.Input, c, run.Width, size) > background + 0.1f).OrderBy(_ => random.Next()).ToList();
                var shuffled = new float[raw.Length];
                foreach (var (cell, value) in brain.Zip(raw.OrderByDescending(v => v)))
                {
                    shuffled[cell] = value;
                }

                randomDrop += (before - Softmax(Logits(session, Masked(run.Input, Hottest(shuffled, run.Height, run.Width, size, masked), background)))[target]) / 4;
            }
        }

        output.WriteLine($"{runs.Count} slices: mean drop of the predicted class's probability, hottest 10% masked {hotDrop / runs.Count:F4}, random 10% {randomDrop / runs.Count:F4}");
        Assert.True(hotDrop > randomDrop, $"hottest {hotDrop / runs.Count}, random {randomDrop / runs.Count}");
    }

    /// <summary>The mean input value over one cell of the coarse map (grey channel).</summary>
    private static float CellMean(float[] input, int cell, int width, int size)
    {
        var step = size / width;
        var (cy, cx) = (cell / width, cell % width);
        var sum = 0f;
        for (var y = cy * step; y < (cy + 1) * step; y++)
        {
            for (var x = cx * step; x < (cx + 1) * step; x++)
            {
                sum += input[(y * size) + x];
            }
        }

        return sum / (step * step);
    }

    private static IEnumerable<int> Hottest(float[] map, int height, int width, int size, int count)
    {
        var up = GradCam.Upsample(map, height, width, size);
        return Enumerable.Range(0, up.Length).OrderByDescending(p => up[p]).ThenBy(p => p).Take(count);
    }

    /// <summary>The labeled sample series (6 slices each, from our validation split), read and normalized as the agent does.</summary>
    private static IEnumerable<EdgeMed.DicomIngest.Slices.Slice> SampleSlices()
    {
        using var reader = new DicomReader(isolation: DecoderIsolation.InProcess);
        var files = Directory.GetDirectories(Path.Combine(SharedData.Repository, "samples"), "alzheimer-*").Order(StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d, "*.dcm").Order(StringComparer.Ordinal)).ToList();
        Assert.NotEmpty(files);
        return [.. files.SelectMany(f => reader.ReadAsync(f).GetAwaiter().GetResult().Slices)];
    }

    private static (GradCam Cam, List<Run> Runs) Explain(IEnumerable<EdgeMed.DicomIngest.Slices.Slice> slices)
    {
        var model = OnnxModelFile.Load(Path.Combine(Package, "model.onnx"));
        var cam = GradCam.For(model) ?? throw new InvalidOperationException("the shipped graph has no IConvNeXt head");
        using var session = OnnxSession.FromBytes(ModelEdits.ExposeOutputs(model, [cam.FeatureMap]).ToByteArray(), new OnnxSessionOptions { IntraOpThreads = 2 });
        var normalizer = new SliceNormalizer(Settings);
        var runs = new List<Run>();
        foreach (var slice in slices)
        {
            var input = new float[normalizer.OutputLength];
            normalizer.Normalize(slice, input);
            using var tensor = Input(input);
            using var outputs = session.Run([new NamedTensor("input", tensor)], ["logits", cam.FeatureMap]);
            var shape = outputs.GetShape(1);
            runs.Add(new Run(input, [.. outputs.GetSpan<float>(0).ToArray().Select(v => (double)v)], outputs.GetSpan<float>(1).ToArray(), (int)shape[2], (int)shape[3]));
        }

        return (cam, runs);
    }

    private static readonly NormalizationSettings Settings = ModelPackage.Load(Package).Manifest.Input.Normalization;

    private static OnnxTensor Input(float[] input) => OnnxTensor.Create(input, 1, Settings.Channels, Settings.Size, Settings.Size);

    private static double[] Logits(OnnxSession session, float[] input)
    {
        using var tensor = Input(input);
        using var outputs = session.Run([new NamedTensor("input", tensor)], ["logits"]);
        return [.. outputs.GetSpan<float>(0).ToArray().Select(v => (double)v)];
    }

    /// <summary>The input with these pixels set to <paramref name="value"/> in every channel (the model's channels repeat the grey slice).</summary>
    private static float[] Masked(float[] input, IEnumerable<int> pixels, float value)
    {
        var copy = (float[])input.Clone();
        var plane = Settings.Size * Settings.Size;
        foreach (var p in pixels)
        {
            for (var c = 0; c < Settings.Channels; c++)
            {
                copy[(c * plane) + p] = value;
            }
        }

        return copy;
    }

    private static double[] Softmax(double[] logits)
    {
        var max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        var sum = e.Sum();
        return [.. e.Select(v => v / sum)];
    }

    private static int ArgMax(double[] values) => Array.IndexOf(values, values.Max());
}
