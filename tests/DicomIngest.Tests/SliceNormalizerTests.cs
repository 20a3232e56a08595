using EdgeMed.DicomIngest.Images;
using EdgeMed.DicomIngest.Normalization;

namespace EdgeMed.DicomIngest.Tests;

[Collection(ThreadAllocations.Collection)]
public sealed class SliceNormalizerTests
{
    [Fact]
    public void VoiWindow_SameSize_ScalesClipsAndStandardizesAsComputedByHand()
    {
        // 8×8 into 8×8 is an identity resample; window center 100, width 200 maps [0, 200] to [0, 1].
        var normalizer = new SliceNormalizer(new NormalizationSettings { Size = 8, Channels = 3, Mean = 0.5f, Std = 0.25f });
        var pixels = new float[64];
        pixels[0] = -50;   // below the window: 0
        pixels[1] = 0;     // 0
        pixels[2] = 50;    // 0.25
        pixels[3] = 100;   // 0.5
        pixels[4] = 200;   // 1
        pixels[5] = 1000;  // above: 1
        var output = new float[3 * 64];

        normalizer.Normalize<float>(pixels, 8, 8, output, windowCenter: 100, windowWidth: 200);

        float[] unit = [0, 0, 0.25f, 0.5f, 1, 1];
        for (var i = 0; i < unit.Length; i++)
        {
            var expected = (unit[i] - 0.5f) / 0.25f;
            Assert.Equal(expected, output[i], 5);
            Assert.Equal(expected, output[64 + i], 5);  // channel 1 replicates channel 0
            Assert.Equal(expected, output[128 + i], 5); // channel 2
        }

        Assert.Equal(-2f, output[63], 5); // the untouched zeros
    }

    [Fact]
    public void HalvingResample_UsesPillowsBilinearWeights()
    {
        // 16 → 8 along each axis: every output pixel weighs its 4 nearest sources 1/8, 3/8, 3/8, 1/8 (renormalized at the borders).
        var normalizer = new SliceNormalizer(new NormalizationSettings { Size = 8, Channels = 1, Mean = 0, Std = 1 });
        var pixels = new float[16 * 16];
        for (var r = 0; r < 16; r++)
        {
            for (var c = 0; c < 16; c++)
            {
                pixels[(r * 16) + c] = c; // a ramp along the columns, 0…15
            }
        }

        var output = new float[64];
        normalizer.Normalize<float>(pixels, 16, 16, output, windowCenter: 7.5, windowWidth: 15); // [0, 15] → [0, 1]

        // Interior column x=1 reads sources 1..4: (1·1 + 3·2 + 3·3 + 1·4) / 8 = 2.5; x=0 reads sources 0..2 with weights 3,3,1 (renormalized).
        Assert.Equal(((3 * 0) + (3 * 1) + (1 * 2)) / 7f / 15f, output[0], 5);
        Assert.Equal(2.5f / 15f, output[1], 5);
        Assert.Equal(6.5f / 15f, output[3], 5);
        Assert.Equal(output[1], output[(5 * 8) + 1], 5); // rows are equal: constant along the rows
    }

    [Fact]
    public void PercentileWindow_MatchesExactPercentilesWithinOneBin()
    {
        var random = new Random(3);
        var pixels = Enumerable.Range(0, 50_000).Select(_ => (float)(random.NextDouble() * 1000)).ToArray();
        var normalizer = new SliceNormalizer();
        var sorted = pixels.Order().ToArray();
        double Exact(double p) => sorted[(int)Math.Round(p / 100 * (sorted.Length - 1))];

        var (low, high) = normalizer.PercentileWindow<float>(pixels);

        var bin = 1000.0 / 4095;
        Assert.InRange(low, Exact(0.5) - bin, Exact(0.5) + bin);
        Assert.InRange(high, Exact(99.5) - bin, Exact(99.5) + bin);
    }

    [Fact]
    public void FlatImage_NormalizesToZeroWithoutDividingByZero()
    {
        var normalizer = new SliceNormalizer(new NormalizationSettings { Size = 8, Channels = 1 });
        var output = new float[64];

        normalizer.Normalize<float>(Enumerable.Repeat(42f, 100).ToArray(), 10, 10, output);

        Assert.All(output, v => Assert.Equal(-1f, v)); // (0 − 0.5) / 0.5
    }

    [Fact]
    public void PreserveAspect_PadsWithBlackAroundTheCenteredImage()
    {
        var normalizer = new SliceNormalizer(new NormalizationSettings { Size = 8, Channels = 1, Mean = 0, Std = 1, PreserveAspect = true });
        var output = new float[64];

        normalizer.Normalize<float>(Enumerable.Repeat(10f, 4 * 8).ToArray(), 4, 8, output, windowCenter: 5, windowWidth: 10); // 4 rows × 8 columns

        Assert.All(output.AsSpan(0, 16).ToArray(), v => Assert.Equal(0f, v));      // rows 0–1: padding
        Assert.All(output.AsSpan(16, 32).ToArray(), v => Assert.Equal(1f, v, 5));  // rows 2–5: the image
        Assert.All(output.AsSpan(48, 16).ToArray(), v => Assert.Equal(0f, v));     // rows 6–7: padding
    }

    [Fact]
    public void SteadyState_NormalizeAllocatesNothing()
    {
        var normalizer = new SliceNormalizer();
        var pixels = new float[256 * 256];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = i % 997;
        }

        var output = new float[normalizer.OutputLength];
        normalizer.Normalize<float>(pixels, 256, 256, output); // grows the scratch buffers once

        var allocated = ThreadAllocations.Of(() =>
        {
            for (var i = 0; i < 10; i++)
            {
                normalizer.Normalize<float>(pixels, 256, 256, output);
            }
        });

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void BadArguments_AreRefused()
    {
        var normalizer = new SliceNormalizer(new NormalizationSettings { Size = 8 });

        Assert.Throws<ArgumentException>(() => normalizer.Normalize<float>(new float[10], 4, 4, new float[3 * 64]));
        Assert.Throws<ArgumentException>(() => normalizer.Normalize<float>(new float[16], 4, 4, new float[10]));
        Assert.Throws<ArgumentException>(() => new SliceNormalizer(new NormalizationSettings { Std = 0 }));
    }

    [Fact]
    public async Task JpegPngAndDicom_OfTheSamePixels_NormalizeToTheSameTensor()
    {
        // Real pixels: a slice from the shared training data, decoded once; PNG and DICOM then carry exactly those values.
        var jpegPath = Directory.EnumerateFiles(SharedData.Alzheimer, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal).First();
        using var jpeg = new JpegDecoder();
        var fromJpeg = ImageSlice.Load(jpegPath, jpeg);
        var folder = Directory.CreateTempSubdirectory("edgemed-same-").FullName;
        try
        {
            var samples = fromJpeg.Pixels.Select(v => (ushort)v).ToArray();
            var pngPath = Path.Combine(folder, "slice.png");
            await File.WriteAllBytesAsync(pngPath, PngCodec.Write(new PngImage(fromJpeg.Columns, fromJpeg.Rows, 1, 8, samples)));
            var dicomPath = Path.Combine(folder, "slice.dcm");
            await File.WriteAllBytesAsync(dicomPath, DicomBuilder.MrImage(fromJpeg.Rows, fromJpeg.Columns, samples).Build());
            var fromPng = ImageSlice.Load(pngPath, jpeg);
            using var reader = new DicomReader();
            var fromDicom = (await reader.ReadAsync(dicomPath)).Slices.Single();
            var normalizer = new SliceNormalizer();
            var a = new float[normalizer.OutputLength];
            var b = new float[normalizer.OutputLength];
            var c = new float[normalizer.OutputLength];

            normalizer.Normalize(fromJpeg, a);
            normalizer.Normalize(fromPng, b);
            normalizer.Normalize(fromDicom, c);

            Assert.Equal((176, 208), (fromJpeg.Columns, fromJpeg.Rows));
            Assert.Equal(a, b);
            Assert.Equal(a, c);
            Assert.Contains(a, v => v > 0); // not a blank tensor
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
