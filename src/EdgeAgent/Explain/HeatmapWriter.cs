using EdgeMed.DicomIngest.Images;
using EdgeMed.DicomIngest.Normalization;
using EdgeMed.EdgeAgent.Share;

namespace EdgeMed.EdgeAgent.Explain;

/// <summary>
/// Writes a heatmap as an RGB PNG: the slice as the model saw it (its input, back in grey levels) with the class
/// activation map laid over it in red to yellow where the map is above a fifth of its maximum, so the slice stays
/// readable where the map is cold. Files go under one folder per series, both named by a hash (of the series UID; of
/// instance, frame and tile): UIDs come from the files and could hold '/' or "..". The folder is owner-only (the
/// images are patient data); a file is written under a hidden name, flushed and renamed, so a reader never sees part
/// of one.
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

        var relative = Path.Combine(FolderOf(seriesKey), Hash($"{sopInstanceUid}/{frame}/{tile}") + ".png");
        var path = Path.GetFullPath(Path.Combine(root, relative));
        if (!path.StartsWith(Path.GetFullPath(root).TrimEnd('/') + "/", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("a heatmap path left the heatmap folder");
        }

        OwnerOnly.CreateDirectory(Path.GetDirectoryName(path)!);
        var partial = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + ".partial");
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
        using (var stream = new FileStream(partial, options))
        {
            stream.Write(PngCodec.Write(new PngImage(size, size, 3, 8, samples)));
            stream.Flush(flushToDisk: true);
        }

        File.Move(partial, path, overwrite: true);
        return relative;
    }

    /// <summary>The folder (relative to the heatmap folder) of a series' heatmaps.</summary>
    public static string FolderOf(string seriesInstanceUid) => Hash(seriesInstanceUid);

    /// <summary>Deletes the series' heatmap files that <paramref name="kept"/> (relative paths) no longer lists.</summary>
    public void Sweep(string seriesInstanceUid, IReadOnlyCollection<string> kept)
    {
        var folder = Path.Combine(root, FolderOf(seriesInstanceUid));
        if (!Directory.Exists(folder))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(folder))
        {
            if (!kept.Contains(Path.GetRelativePath(root, file)))
            {
                File.Delete(file);
            }
        }
    }

    private static string Hash(string text) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..20];
}
