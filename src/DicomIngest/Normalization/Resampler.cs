using System.Numerics;

namespace EdgeMed.DicomIngest.Normalization;

/// <summary>
/// Separable resampling with a triangle (tent) filter whose radius widens by the scale factor when shrinking, so
/// downscaling averages every source pixel instead of skipping some (antialiasing). Pixel centers sit at half-pixel
/// offsets; taps past the border are dropped and the rest renormalized. This is Pillow's BILINEAR resize (the rule of
/// its ImagingResample) and torchvision's <c>resize(..., antialias=True)</c>; enlarging reduces to bilinear interpolation.
/// </summary>
internal sealed class Resampler
{
    private readonly Dictionary<(int From, int To), AxisWeights> _weights = [];

    /// <summary>Resizes <paramref name="source"/> (rows × columns) into <paramref name="destination"/> (height × width) using <paramref name="scratch"/> (rows × width).</summary>
    public void Resize(ReadOnlySpan<float> source, int rows, int columns, Span<float> destination, int height, int width, int destinationStride, Span<float> scratch)
    {
        var horizontal = WeightsFor(columns, width);
        var vertical = WeightsFor(rows, height);

        for (var r = 0; r < rows; r++)
        {
            var line = source.Slice(r * columns, columns);
            var output = scratch.Slice(r * width, width);
            for (var x = 0; x < width; x++)
            {
                var start = horizontal.Start[x];
                var taps = horizontal.Taps[x];
                var w = horizontal.Values.AsSpan(x * horizontal.MaxTaps, taps);
                var sum = 0f;
                for (var k = 0; k < taps; k++)
                {
                    sum += w[k] * line[start + k];
                }

                output[x] = sum;
            }
        }

        for (var y = 0; y < height; y++)
        {
            var start = vertical.Start[y];
            var taps = vertical.Taps[y];
            var w = vertical.Values.AsSpan(y * vertical.MaxTaps, taps);
            var output = destination.Slice(y * destinationStride, width);
            output.Clear();
            for (var k = 0; k < taps; k++)
            {
                AddScaled(output, scratch.Slice((start + k) * width, width), w[k]);
            }
        }
    }

    /// <summary>output += weight × line, a SIMD vector at a time.</summary>
    private static void AddScaled(Span<float> output, ReadOnlySpan<float> line, float weight)
    {
        var x = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var w = new Vector<float>(weight);
            for (; x <= output.Length - Vector<float>.Count; x += Vector<float>.Count)
            {
                (new Vector<float>(output[x..]) + (w * new Vector<float>(line[x..]))).CopyTo(output[x..]);
            }
        }

        for (; x < output.Length; x++)
        {
            output[x] += weight * line[x];
        }
    }

    private AxisWeights WeightsFor(int from, int to)
    {
        if (!_weights.TryGetValue((from, to), out var weights))
        {
            weights = AxisWeights.Create(from, to);
            _weights[(from, to)] = weights;
        }

        return weights;
    }

    /// <summary>For each output position: the first source index, the number of taps and their normalized weights.</summary>
    private sealed class AxisWeights
    {
        public required int[] Start { get; init; }

        public required int[] Taps { get; init; }

        public required float[] Values { get; init; }

        public required int MaxTaps { get; init; }

        public static AxisWeights Create(int from, int to)
        {
            // Pillow's coefficient rule (ImagingResample, bilinear): taps cover the filter's support around the
            // output pixel's center in source coordinates; taps outside the image are dropped and the rest renormalized.
            var scale = (double)from / to;
            var filterScale = Math.Max(scale, 1.0);
            var support = filterScale; // bilinear support 1, widened when shrinking
            var maxTaps = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[to];
            var taps = new int[to];
            var values = new float[to * maxTaps];
            for (var i = 0; i < to; i++)
            {
                var center = (i + 0.5) * scale;
                var first = Math.Max((int)(center - support + 0.5), 0);
                var count = Math.Min(Math.Min((int)(center + support + 0.5), from) - first, maxTaps);
                var w = values.AsSpan(i * maxTaps, maxTaps);
                var total = 0.0;
                for (var k = 0; k < count; k++)
                {
                    var weight = Math.Max(0, 1 - Math.Abs((k + first - center + 0.5) / filterScale));
                    w[k] = (float)weight;
                    total += weight;
                }

                for (var k = 0; k < count; k++)
                {
                    w[k] = total > 0 ? (float)(w[k] / total) : 0;
                }

                start[i] = first;
                taps[i] = Math.Max(count, 0);
            }

            return new AxisWeights { Start = start, Taps = taps, Values = values, MaxTaps = maxTaps };
        }
    }
}
