using System.Diagnostics;
using EdgeMed.DicomIngest.Normalization;

namespace EdgeMed.DicomIngest.Tests;

/// <summary>The resampler against Pillow itself (Debian python3-pil, which torchvision also uses), on float images.</summary>
public sealed class ResamplerParityTests
{
    [Theory]
    [InlineData(208, 176, 224)] // the training JPEGs, enlarged
    [InlineData(384, 384, 224)] // a full mosaic frame, shrunk
    [InlineData(64, 64, 224)]   // a mosaic tile, enlarged 3.5×
    [InlineData(512, 300, 224)] // shrunk by different factors per axis
    public async Task Resize_MatchesPillowBilinear(int rows, int columns, int size)
    {
        var random = new Random(rows * columns);
        var pixels = Enumerable.Range(0, rows * columns).Select(_ => (float)random.NextDouble()).ToArray();
        var folder = Directory.CreateTempSubdirectory("edgemed-pil-").FullName;
        try
        {
            var input = Path.Combine(folder, "in.f32");
            var output = Path.Combine(folder, "out.f32");
            await File.WriteAllBytesAsync(input, System.Runtime.InteropServices.MemoryMarshal.AsBytes(pixels.AsSpan()).ToArray());
            var script = "import sys, numpy as np\nfrom PIL import Image\n"
                + "a = np.fromfile(sys.argv[1], dtype='<f4').reshape(int(sys.argv[3]), int(sys.argv[4]))\n"
                + "r = Image.fromarray(a, mode='F').resize((int(sys.argv[5]), int(sys.argv[5])), Image.BILINEAR)\nnp.asarray(r, dtype='<f4').tofile(sys.argv[2])";
            var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true };
            foreach (var arg in new[] { "-c", script, input, output, rows.ToString(System.Globalization.CultureInfo.InvariantCulture), columns.ToString(System.Globalization.CultureInfo.InvariantCulture), size.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            {
                start.ArgumentList.Add(arg);
            }

            using (var process = Process.Start(start)!)
            {
                var stderr = await process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync();
                Assert.True(process.ExitCode == 0, stderr);
            }

            var pillow = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(await File.ReadAllBytesAsync(output)).ToArray();
            var ours = new float[size * size];
            new SliceNormalizer(new NormalizationSettings { Size = size, Channels = 1 }).NormalizeToUnit<float>(pixels, rows, columns, ours, windowCenter: 0.5, windowWidth: 1);

            var worst = ours.Zip(pillow, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst < 1e-5, $"largest difference from Pillow: {worst}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
