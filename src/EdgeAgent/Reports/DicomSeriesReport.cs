using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EdgeMed.DicomIngest.Dicom;
using EdgeMed.EdgeAgent.Ledger;

namespace EdgeMed.EdgeAgent.Reports;

/// <summary>
/// One stored series as a DICOM Comprehensive SR, so the result shows in the PACS next to the images: the series
/// class, each class's mean probability, the low-confidence and quality flags, the model (name, version, SHA-256) and
/// "not for diagnosis", with the classified instances as evidence and the most confident one as an image reference.
/// Patient and study elements are the source's, copied byte for byte (<see cref="StoredSeries.SourceModule"/>), and
/// the Study Instance UID is the source's, so the PACS files it with the images. UIDs are derived from the source
/// series, this database's random id and the model (the SR series), and the stored version (the SOP instance): a resend
/// is the same object, a late part of the series (a new version) is a new instance in the same SR series that names
/// the one before it (Predecessor Documents), and another database or model never reuses a UID for other content.
/// Dates and times are the agent's local time, as the copied study dates are the scanner's (no UTC offset is claimed).
/// </summary>
internal static class DicomSeriesReport
{
    /// <summary>Comprehensive SR Storage.</summary>
    public const string ComprehensiveSr = "1.2.840.10008.5.1.4.1.1.88.33";

    /// <summary>Our private coding scheme (PS3.16 8.2: designators starting "99" are private).</summary>
    internal const string Scheme = "99EDGEMED";

    private static readonly string ImplementationClassUid = Uid("implementation", "EdgeMed");
    private const string SeriesNumber = "9901";
    private const string Notice = "Not for diagnosis: the model is not validated for clinical use.";

    /// <summary>The SR as a PS3.10 file, and its SOP instance UID.</summary>
    public static (byte[] File, string SopInstanceUid) Build(StoredSeries series)
    {
        var (ds, source, version, date, time) = Header(series, "a DICOM SR");
        var row = series.Row;
        var (uid, study) = (Text(row, "series_instance_uid"), Text(row, "study_instance_uid"));
        var srSeries = Uid("sr-series", source);
        var sop = Uid("sr", $"{source}/{version}");
        var predicted = Text(row, "predicted_class");
        var low = Convert.ToInt64(row["low_confidence"], CultureInfo.InvariantCulture) == 1;
        var flags = Text(row, "quality_flags");
        var probabilities = JsonSerializer.Deserialize<Dictionary<string, double>>(Text(row, "probabilities")) ?? [];
        var known = series.Instances.Where(i => !string.IsNullOrEmpty(i.SopClassUid)).ToList();

        ds.Text(0x00080016, "UI", ComprehensiveSr).Text(0x00080018, "UI", sop)
            .Text(0x00080060, "CS", "SR")
            .Sequence(0x00080110, new DicomWriter().Text(0x00080102, "SH", Scheme).Text(0x00080115, "ST", "EdgeMed model outputs"))
            .Text(0x0008103E, "LO", "EdgeMed classification (not for diagnosis)")
            .Sequence(0x00081111) // Referenced Performed Procedure Step Sequence (type 2)
            .Text(0x0020000E, "UI", srSeries)
            .Text(0x00200011, "IS", SeriesNumber).Text(0x00200013, "IS", version.ToString(CultureInfo.InvariantCulture))
            .Text(0x0040A040, "CS", "CONTAINER")
            .Sequence(0x0040A043, Code("18748-4", "LN", "Diagnostic imaging report"))
            .Text(0x0040A050, "CS", "SEPARATE")
            .Sequence(0x0040A372) // Performed Procedure Code Sequence (type 2)
            .Text(0x0040A491, "CS", "COMPLETE")
            .Text(0x0040A493, "CS", "UNVERIFIED");
        if (version > 1)
        {
            // The version this one replaces (PS3.3 C.17.2.3), so a PACS can show the newest as the current report.
            ds.Sequence(0x0040A360, new DicomWriter()
                .Text(0x0020000D, "UI", study)
                .Sequence(0x00081115, new DicomWriter()
                    .Text(0x0020000E, "UI", srSeries)
                    .Sequence(0x00081199, Reference(ComprehensiveSr, Uid("sr", $"{source}/{version - 1}")))));
        }

        if (known.Count > 0)
        {
            ds.Sequence(0x0040A375, new DicomWriter() // Current Requested Procedure Evidence Sequence
                .Text(0x0020000D, "UI", study)
                .Sequence(0x00081115, new DicomWriter()
                    .Text(0x0020000E, "UI", uid)
                    .Sequence(0x00081199, known.Select(i => Reference(i.SopClassUid!, i.SopInstanceUid)))));
        }

        var content = new List<DicomWriter>
        {
            Item("CODE", Code("121071", "DCM", "Finding")).Sequence(0x0040A168, Code(predicted, Scheme, predicted)),
            Item("CONTAINER", Code("mean-probability", Scheme, "Mean probability per class")).Text(0x0040A050, "CS", "SEPARATE")
                .Sequence(0x0040A730, probabilities.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => Item("NUM", Code(p.Key, Scheme, p.Key))
                    .Sequence(0x0040A300, new DicomWriter().DecimalString(0x0040A30A, Math.Round(p.Value, 6)).Sequence(0x004008EA, Code("1", "UCUM", "no units"))))),
            Item("CODE", Code("low-confidence", Scheme, "Low confidence")).Sequence(0x0040A168, low ? Code("373066001", "SCT", "Yes") : Code("373067005", "SCT", "No")),
            Item("TEXT", Code("quality-flags", Scheme, "Input quality flags")).Text(0x0040A160, "UT", flags.Length == 0 ? "none" : flags),
            Item("TEXT", Code("slices", Scheme, "Slices classified")).Text(0x0040A160, "UT", Text(row, "slice_count")),
            Item("TEXT", Code("111001", "DCM", "Algorithm Name")).Text(0x0040A160, "UT", Text(row, "model_name")),
            Item("TEXT", Code("111003", "DCM", "Algorithm Version")).Text(0x0040A160, "UT", Text(row, "model_version")),
            Item("TEXT", Code("model-sha256", Scheme, "Model SHA-256")).Text(0x0040A160, "UT", Text(row, "model_sha256")),
            Item("TEXT", Code("121106", "DCM", "Comment")).Text(0x0040A160, "UT", Notice),
        };
        var best = Text(row, "best_sop_instance_uid");
        if (known.FirstOrDefault(i => i.SopInstanceUid == best) is { SopClassUid: { Length: > 0 } bestClass } bestInstance)
        {
            var reference = Reference(bestClass, best, bestInstance.MultiFrame ? Convert.ToInt32(row["best_frame"], CultureInfo.InvariantCulture) : null);

            content.Add(Item("IMAGE", Code("best-slice", Scheme, "Most confident slice")).Sequence(0x00081199, reference));
        }

        ds.Sequence(0x0040A730, content);
        return (ToFile(ds, ComprehensiveSr, sop), sop);
    }

    /// <summary>
    /// What every result object about a series starts with: the source's Patient and General Study elements (then the
    /// type 2 ones it lacked, empty), its Study Instance UID, creation and content date and time (the agent's local
    /// time, as the copied study dates are the scanner's), manufacturer; and the key its UIDs derive from (source
    /// series, this database's id, the model) with the stored version.
    /// </summary>
    internal static (DicomWriter Dataset, string Source, long Version, string Date, string Time) Header(StoredSeries series, string what)
    {
        ArgumentNullException.ThrowIfNull(series);
        var row = series.Row;
        var study = Text(row, "study_instance_uid");
        if (study.Length == 0)
        {
            throw new InvalidDataException($"the series has no Study Instance UID; {what} cannot be filed without one");
        }

        if (series.SourceModule is null)
        {
            // Sent without them, the object would be filed under no patient in the source's study.
            throw new InvalidDataException($"the series was stored before the agent kept its patient and study elements; classify it again to send {what}");
        }

        var version = Convert.ToInt64(row["updates"], CultureInfo.InvariantCulture);
        var source = $"{Text(row, "series_instance_uid")}/{series.Installation}/{Text(row, "model_sha256")}";
        var at = DateTimeOffset.Parse(Text(row, "classified_at"), CultureInfo.InvariantCulture).ToLocalTime();
        var (date, time) = (at.ToString("yyyyMMdd", CultureInfo.InvariantCulture), at.ToString("HHmmss", CultureInfo.InvariantCulture));
        var ds = new DicomWriter();
        ds.Encoded(series.SourceModule);
        foreach (var (tag, vr) in SourceModule.Elements.Where(e => e.Tag != 0x00080005 && e.Tag != 0x00081030 && e.Tag != 0x00100021 && !ds.Contains(e.Tag)))
        {
            ds.Text(tag, vr, null);
        }

        ds.Text(0x00080012, "DA", date).Text(0x00080013, "TM", time) // Instance Creation Date, Time
            .Text(0x00080023, "DA", date).Text(0x00080033, "TM", time) // Content Date, Time
            .Text(0x00080070, "LO", "EdgeMed")
            .Text(0x0020000D, "UI", study);
        return (ds, source, version, date, time);
    }

    /// <summary>A PS3.10 file of a data set built here.</summary>
    internal static byte[] ToFile(DicomWriter dataset, string sopClass, string sop) => dataset.ToFile(sopClass, sop, ImplementationClassUid, "EDGEMED");

    /// <summary>
    /// A UID under the 2.25 root (PS3.5 B.2: a UUID as a decimal integer) made from SHA-256 of a name, so the same
    /// series and version always get the same UID and different ones never collide in practice.
    /// </summary>
    internal static string Uid(string kind, string key)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"edgemed/{kind}/{key}"))[..16];
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80); // RFC 9562 version 8 (custom), as FhirSeriesReport's ids
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return "2.25." + new BigInteger(hash, isUnsigned: true, isBigEndian: true).ToString(CultureInfo.InvariantCulture);
    }

    private static DicomWriter Item(string valueType, DicomWriter concept) =>
        new DicomWriter().Text(0x0040A010, "CS", "CONTAINS").Text(0x0040A040, "CS", valueType).Sequence(0x0040A043, concept);

    // A class name longer than Code Value's 16 characters goes in Long Code Value (PS3.3 8.8).
    private static DicomWriter Code(string value, string scheme, string meaning) =>
        (value.Length <= 16 ? new DicomWriter().Text(0x00080100, "SH", value) : new DicomWriter().Text(0x00080119, "UC", value))
            .Text(0x00080102, "SH", scheme).Text(0x00080104, "LO", meaning);

    /// <summary>A Referenced SOP item; with <paramref name="frame"/> (0-based) for one frame of a multi-frame instance.</summary>
    internal static DicomWriter Reference(string sopClass, string sopInstance, int? frame = null)
    {
        var reference = new DicomWriter().Text(0x00081150, "UI", sopClass).Text(0x00081155, "UI", sopInstance);
        return frame is { } f ? reference.Text(0x00081160, "IS", (f + 1).ToString(CultureInfo.InvariantCulture)) : reference; // Referenced Frame Number, 1-based
    }

    internal static string Text(IReadOnlyDictionary<string, object?> row, string column) =>
        Convert.ToString(row.GetValueOrDefault(column), CultureInfo.InvariantCulture) ?? string.Empty;
}
