using System.Globalization;
using System.Text.Json;
using EdgeMed.DicomIngest.Images;
using EdgeMed.DicomIngest.Normalization;
using EdgeMed.DicomIngest.Slices;

namespace EdgeMed.DicomIngest;

/// <summary>The <c>dicom inspect</c> and <c>dicom convert</c> commands. They exit non-zero only for usage errors.</summary>
internal static class DicomCommands
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static async Task<int> InspectAsync(string[] paths, bool decode, TextWriter output, CancellationToken cancellationToken)
    {
        if (!TryExpand(paths, out var files, out var missing))
        {
            await Console.Error.WriteLineAsync($"Not found: {missing}").ConfigureAwait(false);
            return 2;
        }

        using var reader = new DicomReader();
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string status;
            InstanceMetadata? m = null;
            var slices = 0;
            try
            {
                if (decode)
                {
                    var instance = await reader.ReadAsync(file, cancellationToken).ConfigureAwait(false);
                    m = instance.Metadata;
                    slices = instance.Slices.Count;
                }
                else
                {
                    m = reader.ReadHeader(file);
                }

                status = "ok";
            }
            catch (DicomIngestException e)
            {
                status = $"{e.ReasonCode}: {e.Message}";
            }

            counts[status.Split(':')[0]] = counts.GetValueOrDefault(status.Split(':')[0]) + 1;
            await output.WriteLineAsync(Describe(file, m, slices, status)).ConfigureAwait(false);
        }

        await output.WriteLineAsync($"{files.Count} files: {string.Join(", ", counts.Select(kv => $"{kv.Value} {kv.Key}"))}").ConfigureAwait(false);
        return 0;
    }

    public static async Task<int> ConvertAsync(string inputPath, string outputFolder, int size, bool allPlanes, TextWriter output, CancellationToken cancellationToken)
    {
        if (!TryExpand([inputPath], out var files, out var missing))
        {
            await Console.Error.WriteLineAsync($"Not found: {missing}").ConfigureAwait(false);
            return 2;
        }

        var settings = new NormalizationSettings { Size = size, Channels = 1 };
        try
        {
            settings.Validate();
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 2;
        }

        Directory.CreateDirectory(outputFolder);
        var normalizer = new SliceNormalizer(settings);
        var unit = new float[size * size];
        var skipped = new List<Skipped>();
        var written = 0;
        using var reader = new DicomReader();
        foreach (var file in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            DicomInstance instance;
            try
            {
                instance = await reader.ReadAsync(file, cancellationToken).ConfigureAwait(false);
            }
            catch (DicomIngestException e)
            {
                skipped.Add(new Skipped(file, e.ReasonCode, e.Message));
                continue;
            }

            var m = instance.Metadata;
            var seriesFolder = Path.Combine(outputFolder, Tail(m.SeriesInstanceUid ?? "no-series", 24));
            Directory.CreateDirectory(seriesFolder);
            var kept = 0;
            foreach (var slice in instance.Slices)
            {
                if (!allPlanes && slice.Plane != SlicePlane.Axial)
                {
                    continue;
                }

                normalizer.NormalizeToUnit<float>(slice.Pixels, slice.Rows, slice.Columns, unit, slice.WindowCenter, slice.WindowWidth);
                var name = $"{Tail(m.SopInstanceUid, 24)}_f{slice.Frame:D3}{(slice.Tile >= 0 ? $"_t{slice.Tile:D3}" : string.Empty)}";
                await File.WriteAllBytesAsync(Path.Combine(seriesFolder, name + ".png"), PngCodec.WriteGray8(unit, size, size), cancellationToken).ConfigureAwait(false);
                var sidecar = new
                {
                    source = file,
                    sop_instance_uid = m.SopInstanceUid,
                    series_instance_uid = m.SeriesInstanceUid,
                    study_instance_uid = m.StudyInstanceUid,
                    modality = m.Modality,
                    series_description = m.SeriesDescription,
                    transfer_syntax = m.TransferSyntax,
                    frame = slice.Frame,
                    tile = slice.Tile,
                    plane = slice.Plane.ToString().ToLowerInvariant(),
                    rows = slice.Rows,
                    columns = slice.Columns,
                    position = slice.Position,
                    orientation = slice.Orientation,
                    location_mm = slice.Location,
                    pixel_spacing = slice.PixelSpacing,
                    voi_window = slice.WindowWidth is > 0 ? new[] { slice.WindowCenter, slice.WindowWidth } : null,
                    normalization = new { version = NormalizationSettings.AlgorithmVersion, size, settings.LowerPercentile, settings.UpperPercentile, settings.UseVoiWindow },
                    patient_key = m.PatientKey,
                };
                await File.WriteAllTextAsync(Path.Combine(seriesFolder, name + ".json"), JsonSerializer.Serialize(sidecar, Json), cancellationToken).ConfigureAwait(false);
                kept++;
                written++;
            }

            if (kept == 0)
            {
                var planes = string.Join("/", instance.Slices.Select(s => s.Plane.ToString().ToLowerInvariant()).Distinct());
                skipped.Add(new Skipped(file, "not-axial", $"{instance.Slices.Count} slices, plane {planes}"));
            }
        }

        var summary = new { files = files.Count, slices_written = written, skipped_count = skipped.Count, skipped };
        await File.WriteAllTextAsync(Path.Combine(outputFolder, "summary.json"), JsonSerializer.Serialize(summary, Json), cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync($"{files.Count} files: {written} slices written to {outputFolder}, {skipped.Count} files skipped (see summary.json)").ConfigureAwait(false);
        foreach (var s in skipped)
        {
            await output.WriteLineAsync($"  skipped {s.File}: {s.Reason}").ConfigureAwait(false);
        }

        return 0;
    }

    private sealed record Skipped(string File, string Reason, string Detail);

    private static string Describe(string file, InstanceMetadata? m, int slices, string status)
    {
        if (m is null)
        {
            return $"{file}  {status}";
        }

        var plane = SliceGeometry.Classify(m.ImageOrientationPatient ?? (m.FrameGeometries.Count > 0 ? m.FrameGeometries[0].ImageOrientationPatient : null)).ToString().ToLowerInvariant();
        var frames = m.MosaicTiles is { } tiles ? $"mosaic {tiles}" : $"frames {m.Frames}";
        var decoded = slices > 0 ? $" slices {slices}" : string.Empty;
        return string.Create(CultureInfo.InvariantCulture,
            $"{file}  sop {Short(m.SopInstanceUid, 12)}  series {Short(m.SeriesInstanceUid ?? "-", 12)}  {m.Modality ?? "-"}  {plane}  {m.Columns}x{m.Rows}  {m.TransferSyntax}  {frames}{decoded}  {status}");
    }

    private static string Short(string uid, int keep) => uid.Length <= keep ? uid : "…" + uid[^keep..];

    /// <summary>
    /// A file-name-safe tail of a UID. UIDs come from the file and may be hostile ("../../etc"): only digits, letters,
    /// dots and dashes survive, and the result can never be a path.
    /// </summary>
    internal static string Tail(string uid, int keep)
    {
        var safe = new string([.. uid.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '_')]);
        safe = (safe.Length <= keep ? safe : safe[^keep..]).TrimStart('.');
        return safe.Length == 0 ? "_" : safe;
    }

    private static bool TryExpand(IEnumerable<string> paths, out List<string> files, out string? missing)
    {
        files = [];
        missing = null;
        foreach (var path in paths)
        {
            if (File.Exists(path))
            {
                files.Add(path);
            }
            else if (Directory.Exists(path))
            {
                files.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                    .Where(f => !Path.GetFileName(f).StartsWith('.'))
                    .Order(StringComparer.Ordinal));
            }
            else
            {
                missing = path;
                return false;
            }
        }

        return true;
    }
}
