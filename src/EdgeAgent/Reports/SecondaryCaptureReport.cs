using System.Globalization;
using EdgeMed.DicomIngest.Images;
using EdgeMed.EdgeAgent.Ledger;

namespace EdgeMed.EdgeAgent.Reports;

/// <summary>
/// A stored series' heatmaps as a DICOM Secondary Capture series, one RGB image per heatmap, so the PACS viewer shows
/// them beside the images: the overlay enlarged three times with a burned-in band under it (class, the slice's
/// probability, "not for diagnosis"), Burned In Annotation YES, the source slice as Source Image. Same patient, study
/// and UID scheme as <see cref="DicomSeriesReport"/>: a resend is the same objects.
/// </summary>
internal static class SecondaryCaptureReport
{
    /// <summary>Secondary Capture Image Storage.</summary>
    public const string SecondaryCapture = "1.2.840.10008.5.1.4.1.1.7";

    private const int Scale = 3;
    private const int TextScale = 2;
    private const int Band = 40;

    /// <summary>One PS3.10 file per heatmap of the series (none when it has none), most confident slice first.</summary>
    public static IReadOnlyList<(byte[] File, string SopInstanceUid)> Build(StoredSeries series, string heatmapRoot)
    {
        ArgumentNullException.ThrowIfNull(series);
        var sources = series.Instances.Where(i => !string.IsNullOrEmpty(i.SopClassUid)).ToDictionary(i => i.SopInstanceUid, StringComparer.Ordinal);
        var files = new List<(byte[], string)>();
        var number = 0;
        foreach (var h in series.Heatmaps.OrderByDescending(h => h.Probability).ThenBy(h => h.SopInstanceUid, StringComparer.Ordinal).ThenBy(h => h.Frame).ThenBy(h => h.Tile))
        {
            var (ds, source, version, _, _) = DicomSeriesReport.Header(series, "a DICOM Secondary Capture");
            var (pixels, rows, columns) = Compose(PngCodec.Read(File.ReadAllBytes(Path.Combine(heatmapRoot, h.Path))),
                string.Create(CultureInfo.InvariantCulture, $"{h.Class} P={h.Probability:F3}"), "NOT FOR DIAGNOSIS");
            var sop = DicomSeriesReport.Uid("sc", $"{source}/{version}/{h.SopInstanceUid}/{h.Frame}/{h.Tile}");
            ds.Text(0x00080008, "CS", "DERIVED\\SECONDARY")
                .Text(0x00080016, "UI", SecondaryCapture).Text(0x00080018, "UI", sop)
                .Text(0x00080060, "CS", "OT")
                .Text(0x00080064, "CS", "WSD") // Conversion Type: workstation
                .Text(0x0008103E, "LO", "EdgeMed heatmaps (not for diagnosis)")
                .Text(0x00082111, "ST", "Class activation map of the EdgeMed model over the slice as the model saw it")
                .Text(0x0020000E, "UI", DicomSeriesReport.Uid("sc-series", source))
                .Text(0x00200011, "IS", "9902")
                .Text(0x00200013, "IS", (++number).ToString(CultureInfo.InvariantCulture))
                .Text(0x00200020, "CS", null) // Patient Orientation (type 2C): not known for an overlay
                .UnsignedShort(0x00280002, 3).Text(0x00280004, "CS", "RGB").UnsignedShort(0x00280006, 0)
                .UnsignedShort(0x00280010, (ushort)rows).UnsignedShort(0x00280011, (ushort)columns)
                .UnsignedShort(0x00280100, 8).UnsignedShort(0x00280101, 8).UnsignedShort(0x00280102, 7).UnsignedShort(0x00280103, 0)
                .Text(0x00280301, "CS", "YES")
                .Raw(0x7FE00010, "OB", pixels);
            if (sources.TryGetValue(h.SopInstanceUid, out var origin))
            {
                ds.Sequence(0x00082112, DicomSeriesReport.Reference(origin.SopClassUid!, h.SopInstanceUid, origin.MultiFrame ? h.Frame : null)); // Source Image Sequence
            }

            files.Add((DicomSeriesReport.ToFile(ds, SecondaryCapture, sop), sop));
        }

        return files;
    }

    /// <summary>The overlay enlarged <see cref="Scale"/> times (nearest neighbour) over a black band with two lines of text.</summary>
    internal static (byte[] Pixels, int Rows, int Columns) Compose(PngImage overlay, string first, string second)
    {
        ArgumentNullException.ThrowIfNull(overlay);
        if (overlay.Channels != 3)
        {
            throw new InvalidDataException("a heatmap PNG is RGB");
        }

        var (columns, imageRows) = (overlay.Width * Scale, overlay.Height * Scale);
        var rows = imageRows + Band;
        var pixels = new byte[rows * columns * 3];
        var shift = overlay.BitDepth == 16 ? 8 : 0;
        for (var y = 0; y < imageRows; y++)
        {
            for (var x = 0; x < columns; x++)
            {
                var from = (((y / Scale) * overlay.Width) + (x / Scale)) * 3;
                var to = ((y * columns) + x) * 3;
                for (var c = 0; c < 3; c++)
                {
                    pixels[to + c] = (byte)(overlay.Samples[from + c] >> shift);
                }
            }
        }

        BurnedInText.Draw(pixels, columns, rows, 6, imageRows + 4, first, TextScale);
        BurnedInText.Draw(pixels, columns, rows, 6, imageRows + 22, second, TextScale);
        return (pixels, rows, columns);
    }
}
