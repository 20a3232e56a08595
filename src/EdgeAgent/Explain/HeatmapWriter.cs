using EdgeMed.DicomIngest.Images;
using EdgeMed.DicomIngest.Normalization;
using EdgeMed.EdgeAgent.Share;

namespace EdgeMed.EdgeAgent.Explain;

/// <summary>
/// Writes a heatmap as an RGB PNG: the slice as the model saw it (its input, back in grey levels) with the class
/// activation map laid over it in red to yellow where the map is above a fifth of its maximum, so the slice stays
/// readable where the map is cold. Files go under one folder per series, named by instance, frame and tile; the folder
/// is owner-only (the images are patient data) and a file is written under a hidden name and renamed, so a reader
/// never sees part of one.
/// </summary>
internal sealed class HeatmapWriter(string root)
{
    /// <summary>Writes one overlay; returns its path relative to the heatmap folder.</summary>
    public string Write(string seriesKey, string sopInstanceUid, int frame, int tile, ReadOnlySpan<float> input, ReadOnlySpan<float> map, NormalizationSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var size = settings.Size;
        var plane = size * size;
        var peak = 0f;
        foreach (var v in map)
        {
            peak = Math.Max(peak, v);
        }

        var samples = new ushort[plane * 3];
        for (var p = 0; p < plane; p++)
        {
            var grey = Math.Clamp((input[p] * settings.Std) + settings.Mean, 0f, 1f) * 255f;
            var heat = peak > 0 ? map[p] / peak : 0f;
            var alpha = heat < 0.2f ? 0f : 0.25f + (0.45f * heat); // cold: the slice alone
            var (r, g, b) = (255f, 255f * heat, 0f); // red (warm) to yellow (hottest)
            samples[(p * 3) + 0] = (ushort)Math.Round((grey * (1 - alpha)) + (r * alpha));
            samples[(p * 3) + 1] = (ushort)Math.Round((grey * (1 - alpha)) + (g * alpha));
            samples[(p * 3) + 2] = (ushort)Math.Round((grey * (1 - alpha)) + (b * alpha));
        }

        var relative = Path.Combine(seriesKey, $"{sopInstanceUid}-f{frame}-t{tile}.png");
        var path = Path.Combine(root, relative);
        OwnerOnly.CreateDirectory(Path.GetDirectoryName(path)!);
        var partial = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + ".partial");
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
        using (var stream = new FileStream(partial, options))
        {
            stream.Write(PngCodec.Write(new PngImage(size, size, 3, 8, samples)));
        }

        File.Move(partial, path, overwrite: true);
        return relative;
    }
}
