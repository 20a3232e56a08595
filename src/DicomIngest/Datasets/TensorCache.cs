using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using EdgeMed.DicomIngest.Images;
using EdgeMed.DicomIngest.Normalization;
using EdgeMed.DicomIngest.Slices;

namespace EdgeMed.DicomIngest.Datasets;

/// <summary>One cached sample: a slice of a file.</summary>
/// <param name="Path">Source file.</param>
/// <param name="Label">Class index.</param>
/// <param name="Slice">Frame or tile within the file ("0" for images).</param>
public sealed record CachedSample(string Path, int Label, string Slice);

/// <summary>
/// Preprocessed training tensors: every sample normalized by <see cref="SliceNormalizer"/> (one channel; the worker
/// replicates channels), stored as <c>images.f32</c> [N, S, S] and <c>labels.i64</c> [N]. The folder is named by a
/// hash of the files' contents, labels and the preprocessing settings and version, so a change to any of them makes a
/// new cache and a stale one is never read. Built into a temporary folder and renamed when complete.
/// </summary>
public sealed class TensorCache
{
    private TensorCache(string folder, string key, int size, IReadOnlyList<CachedSample> samples, IReadOnlyList<(string Path, string Reason)> skipped)
    {
        Folder = folder;
        Key = key;
        Size = size;
        Samples = samples;
        Skipped = skipped;
    }

    /// <summary>The cache folder.</summary>
    public string Folder { get; }

    /// <summary>The hash that names it.</summary>
    public string Key { get; }

    /// <summary>Height and width of every sample.</summary>
    public int Size { get; }

    /// <summary>Samples in storage order.</summary>
    public IReadOnlyList<CachedSample> Samples { get; }

    /// <summary>Files that gave no sample, with why.</summary>
    public IReadOnlyList<(string Path, string Reason)> Skipped { get; }

    /// <summary>Where caches live unless told otherwise: <c>$EDGEMED_CACHE</c>, else <c>~/.cache/edgemed/tensors</c>.</summary>
    public static string DefaultRoot =>
        Environment.GetEnvironmentVariable("EDGEMED_CACHE") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "edgemed", "tensors");

    /// <summary>Opens the cache for <paramref name="set"/>, building it first when absent.</summary>
    public static async Task<TensorCache> OpenOrBuildAsync(LabeledSet set, NormalizationSettings settings, string root, Action<int, int>? progress, CancellationToken cancellationToken)
    {
        var single = settings with { Channels = 1 };
        var key = ComputeKey(set, single);
        var folder = Path.Combine(root, key);
        if (!File.Exists(Path.Combine(folder, "samples.tsv")))
        {
            await BuildAsync(set, single, folder, progress, cancellationToken).ConfigureAwait(false);
        }

        var samples = File.ReadLines(Path.Combine(folder, "samples.tsv")).Skip(1).Select(line => line.Split('\t'))
            .Select(p => new CachedSample(Path.Combine(set.Root, p[0]), int.Parse(p[1], CultureInfo.InvariantCulture), p[2])).ToList();
        var skipped = File.ReadLines(Path.Combine(folder, "skipped.tsv")).Skip(1).Select(line => line.Split('\t'))
            .Select(p => (Path.Combine(set.Root, p[0]), p[1])).ToList();
        return new TensorCache(folder, key, settings.Size, samples, skipped);
    }

    /// <summary>Reads samples [<paramref name="start"/>, start + count) into <paramref name="destination"/> (count × S × S floats).</summary>
    public void Read(int start, int count, Span<float> destination)
    {
        var plane = Size * Size;
        using var stream = File.OpenRead(Path.Combine(Folder, "images.f32"));
        stream.Position = (long)start * plane * sizeof(float);
        stream.ReadExactly(MemoryMarshal.AsBytes(destination[..(count * plane)]));
    }

    /// <summary>
    /// Reads sample <paramref name="index"/> into <paramref name="destination"/> as a model input of
    /// <paramref name="channels"/> channels (the cached single channel replicated), CHW.
    /// </summary>
    public void ReadAsInput(int index, int channels, Span<float> destination)
    {
        var plane = Size * Size;
        Read(index, 1, destination[..plane]);
        for (var c = 1; c < channels; c++)
        {
            destination[..plane].CopyTo(destination.Slice(c * plane, plane));
        }
    }

    internal static string ComputeKey(LabeledSet set, NormalizationSettings settings)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{NormalizationSettings.AlgorithmVersion}|{settings}|{string.Join('|', set.Classes)}\n"));
        foreach (var file in set.Files)
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{Path.GetRelativePath(set.Root, file.Path)}\t{file.Label}\t"));
            using var stream = File.OpenRead(file.Path);
            hash.AppendData(SHA256.HashData(stream));
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset())[..24];
    }

    private static async Task BuildAsync(LabeledSet set, NormalizationSettings settings, string folder, Action<int, int>? progress, CancellationToken cancellationToken)
    {
        var staging = folder + $".building-{Environment.ProcessId}";
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        Directory.CreateDirectory(staging);
        var normalizer = new SliceNormalizer(settings);
        var tensor = new float[normalizer.OutputLength];
        var samples = new StringBuilder("path\tlabel\tslice\n");
        var skipped = new StringBuilder("path\treason\n");
        var labels = new List<long>();
        using var jpeg = new JpegDecoder();
        DicomReader? dicom = null; // created at the first non-image file: a DICOM tree may hold a stray preview PNG
        await using (var images = new FileStream(Path.Combine(staging, "images.f32"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        {
            for (var i = 0; i < set.Files.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var file = set.Files[i];
                var relative = Path.GetRelativePath(set.Root, file.Path);
                List<(Slice Slice, string Id)> slices;
                try
                {
                    slices = !ImageSlice.IsImageFile(file.Path)
                        ? (await (dicom ??= new DicomReader()).ReadAsync(file.Path, cancellationToken).ConfigureAwait(false)).Slices
                            .Where(s => s.Plane is SlicePlane.Axial or SlicePlane.Unknown).Select(s => (s, $"{s.Frame}.{s.Tile}")).ToList()
                        : [(ImageSlice.Load(file.Path, jpeg), "0")];
                }
                catch (Exception e) when (e is DicomIngestException or InvalidDataException or IOException)
                {
                    skipped.Append(CultureInfo.InvariantCulture, $"{relative}\t{(e is DicomIngestException d ? d.ReasonCode : "unreadable")}: {e.Message.ReplaceLineEndings(" ")}\n");
                    continue;
                }

                if (slices.Count == 0)
                {
                    skipped.Append(CultureInfo.InvariantCulture, $"{relative}\tnot-axial\n");
                }

                foreach (var (slice, id) in slices)
                {
                    normalizer.Normalize(slice, tensor);
                    images.Write(MemoryMarshal.AsBytes(tensor.AsSpan()));
                    samples.Append(CultureInfo.InvariantCulture, $"{relative}\t{file.Label}\t{id}\n");
                    labels.Add(file.Label);
                }

                progress?.Invoke(i + 1, set.Files.Count);
            }
        }

        dicom?.Dispose();
        await File.WriteAllBytesAsync(Path.Combine(staging, "labels.i64"), MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(labels)).ToArray(), cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(staging, "skipped.tsv"), skipped.ToString(), cancellationToken).ConfigureAwait(false);
        // samples.tsv last: its presence marks a complete cache.
        await File.WriteAllTextAsync(Path.Combine(staging, "samples.tsv"), samples.ToString(), cancellationToken).ConfigureAwait(false);
        Directory.CreateDirectory(Path.GetDirectoryName(folder)!);
        if (File.Exists(Path.Combine(folder, "samples.tsv")))
        {
            Directory.Delete(staging, recursive: true); // another process finished the same cache first: keep theirs
            return;
        }

        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true); // an incomplete leftover
        }

        try
        {
            Directory.Move(staging, folder);
        }
        catch (IOException) when (File.Exists(Path.Combine(folder, "samples.tsv")))
        {
            Directory.Delete(staging, recursive: true);
        }
    }
}
