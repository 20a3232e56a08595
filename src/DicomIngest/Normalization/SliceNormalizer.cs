using System.Numerics;
using EdgeMed.DicomIngest.Slices;

namespace EdgeMed.DicomIngest.Normalization;

/// <summary>
/// The project's only preprocessing, shared by training, quantization calibration and serving so they cannot drift:
/// intensity window (the DICOM VOI window when present, else the 0.5–99.5 percentile window of the slice), scale to
/// [0, 1] with clipping, antialiased resize to the model size (see <see cref="Resampler"/>), optional aspect-preserving
/// padding, replication to the channels, then (x − mean) / std, written as NCHW float32 into the caller's buffer.
/// </summary>
/// <remarks>
/// Not thread-safe: it keeps scratch buffers so that, once they have grown to the largest slice seen, normalizing
/// allocates nothing. Use one per thread.
/// </remarks>
public sealed class SliceNormalizer
{
    private const int HistogramBins = 4096;
    private readonly NormalizationSettings _settings;
    private readonly Resampler _resampler = new();
    private readonly int[] _histogram = new int[HistogramBins];
    private float[] _unit = [];
    private float[] _scratch = [];

    /// <summary>Creates a normalizer for <paramref name="settings"/>.</summary>
    public SliceNormalizer(NormalizationSettings? settings = null)
    {
        _settings = settings ?? new NormalizationSettings();
        _settings.Validate();
    }

    /// <summary>The settings.</summary>
    public NormalizationSettings Settings => _settings;

    /// <summary>Floats one normalized slice needs: channels × size × size.</summary>
    public int OutputLength => _settings.Channels * _settings.Size * _settings.Size;

    /// <summary>Normalizes a DICOM slice (its VOI window is used when the settings allow).</summary>
    public void Normalize(Slice slice, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(slice);
        Normalize<float>(slice.Pixels, slice.Rows, slice.Columns, destination, slice.WindowCenter, slice.WindowWidth);
    }

    /// <summary>
    /// Normalizes row-major <paramref name="pixels"/> (rows × columns, any numeric sample type) into
    /// <paramref name="destination"/> (<see cref="OutputLength"/> floats, NCHW).
    /// </summary>
    public void Normalize<T>(ReadOnlySpan<T> pixels, int rows, int columns, Span<float> destination, double? windowCenter = null, double? windowWidth = null)
        where T : unmanaged, INumberBase<T>
    {
        if (destination.Length < OutputLength)
        {
            throw new ArgumentException($"The destination holds {destination.Length} floats; {OutputLength} are needed.", nameof(destination));
        }

        var size = _settings.Size;
        var plane = size * size;
        NormalizeToUnit(pixels, rows, columns, destination[..plane], windowCenter, windowWidth);

        var mean = _settings.Mean;
        var inverseStd = 1f / _settings.Std;
        var first = destination[..plane];
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var m = new Vector<float>(mean);
            var s = new Vector<float>(inverseStd);
            for (; i <= plane - Vector<float>.Count; i += Vector<float>.Count)
            {
                ((new Vector<float>(first[i..]) - m) * s).CopyTo(first[i..]);
            }
        }

        for (; i < plane; i++)
        {
            first[i] = (first[i] - mean) * inverseStd;
        }

        for (var c = 1; c < _settings.Channels; c++)
        {
            first.CopyTo(destination.Slice(c * plane, plane));
        }
    }

    /// <summary>
    /// The single-channel [0, 1] image before mean/std (size × size into <paramref name="destination"/>): what previews
    /// show and what <see cref="Normalize{T}"/> standardizes.
    /// </summary>
    public void NormalizeToUnit<T>(ReadOnlySpan<T> pixels, int rows, int columns, Span<float> destination, double? windowCenter = null, double? windowWidth = null)
        where T : unmanaged, INumberBase<T>
    {
        if (rows <= 0 || columns <= 0 || pixels.Length < rows * columns)
        {
            throw new ArgumentException($"{pixels.Length} pixels cannot be a {rows}×{columns} image.", nameof(pixels));
        }

        var size = _settings.Size;
        if (destination.Length < size * size)
        {
            throw new ArgumentException($"The destination holds {destination.Length} floats; {size}×{size} are needed.", nameof(destination));
        }

        var count = rows * columns;
        // A VOI window too narrow or too wide for float arithmetic is ignored in favour of the percentile window.
        var (low, high) = _settings.UseVoiWindow && windowWidth is >= 1e-6 and <= 1e30 && windowCenter is { } center && double.IsFinite(center) && Math.Abs(center) <= 1e30
            ? (center - (windowWidth.Value / 2), center + (windowWidth.Value / 2))
            : PercentileWindow(pixels[..count]);
        var unit = Grow(ref _unit, count);
        var range = high - low;
        var scale = range > 0 ? (float)(1 / range) : 0f;
        var offset = (float)low;
        for (var i = 0; i < count; i++)
        {
            unit[i] = Math.Clamp((float.CreateTruncating(pixels[i]) - offset) * scale, 0f, 1f);
        }

        var (height, width) = (size, size);
        if (_settings.PreserveAspect)
        {
            var fit = (double)size / Math.Max(rows, columns);
            height = Math.Clamp((int)Math.Round(rows * fit), 1, size);
            width = Math.Clamp((int)Math.Round(columns * fit), 1, size);
        }

        var output = destination[..(size * size)];
        if (height != size || width != size)
        {
            output.Clear(); // black padding
        }

        var top = (size - height) / 2;
        var left = (size - width) / 2;
        var scratch = Grow(ref _scratch, rows * width);
        _resampler.Resize(unit[..count], rows, columns, output[((top * size) + left)..], height, width, size, scratch);
    }

    /// <summary>The robust window: values at the lower and upper percentiles, from a 4,096-bin histogram with linear interpolation inside the bin.</summary>
    internal (double Low, double High) PercentileWindow<T>(ReadOnlySpan<T> pixels)
        where T : unmanaged, INumberBase<T>
    {
        var min = float.PositiveInfinity;
        var max = float.NegativeInfinity;
        foreach (var p in pixels)
        {
            var v = float.CreateTruncating(p);
            if (v < min)
            {
                min = v;
            }

            if (v > max)
            {
                max = v;
            }
        }

        if (!(max > min))
        {
            return (min, min); // flat (or empty) image: everything maps to 0
        }

        var histogram = _histogram.AsSpan();
        histogram.Clear();
        var binScale = (HistogramBins - 1) / (double)(max - min);
        foreach (var p in pixels)
        {
            histogram[(int)((float.CreateTruncating(p) - min) * binScale)]++;
        }

        return (ValueAt(histogram, pixels.Length, _settings.LowerPercentile, min, max, binScale), ValueAt(histogram, pixels.Length, _settings.UpperPercentile, min, max, binScale));
    }

    /// <summary>The value at <paramref name="percentile"/>, accurate to one bin ((max − min) / 4,095).</summary>
    private static double ValueAt(ReadOnlySpan<int> histogram, int total, double percentile, float min, float max, double binScale)
    {
        var rank = percentile / 100 * (total - 1);
        long cumulative = 0;
        for (var bin = 0; bin < histogram.Length; bin++)
        {
            var inBin = histogram[bin];
            if (inBin > 0 && cumulative + inBin > rank)
            {
                // Values in a bin are taken as spread evenly across its width.
                var within = (rank - cumulative + 0.5) / inBin;
                return Math.Clamp(min + ((bin + within) / binScale), min, max);
            }

            cumulative += inBin;
        }

        return max;
    }

    private static Span<float> Grow(ref float[] buffer, int length)
    {
        if (buffer.Length < length)
        {
            buffer = new float[length];
        }

        return buffer.AsSpan(0, length);
    }
}
