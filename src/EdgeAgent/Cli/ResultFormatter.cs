using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeMed.EdgeAgent.Ledger;

namespace EdgeMed.EdgeAgent.Cli;

/// <summary>
/// Per-slice records as a table, JSON (an array of objects) or CSV (RFC 4180, header first). Every record has path,
/// sop_instance_uid, series_instance_uid, frame, tile, position, predicted_class, max_probability, entropy, one column
/// per class name with its probability, model_sha256 and classified_at.
/// </summary>
internal static class ResultFormatter
{
    public static readonly string[] Formats = ["table", "json", "csv"];

    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void Write(TextWriter output, string format, IReadOnlyList<(string Path, string SeriesInstanceUid, SliceResult Slice, string ClassifiedAt)> rows)
    {
        var classes = rows.SelectMany(r => r.Slice.Probabilities.Keys).Distinct(StringComparer.Ordinal).ToList();
        var records = rows.Select(r => Record(r, classes)).ToList();
        switch (format)
        {
            case "json":
                output.WriteLine(JsonSerializer.Serialize(records, Indented));
                break;
            case "csv":
                WriteCsv(output, Columns(classes), records);
                break;
            default:
                output.WriteLine($"{"file",-28} {"series",-14} {"frame",5} {"position",9} {"class",-20} {"p",6} {"entropy",7}");
                foreach (var r in rows)
                {
                    output.WriteLine($"{Shorten(Path.GetFileName(r.Path), 28),-28} {Shorten(r.SeriesInstanceUid, 14),-14} {r.Slice.Frame,5} {Text(r.Slice.Position),9} {Shorten(r.Slice.PredictedClass, 20),-20} {r.Slice.MaxProbability,6:F3} {r.Slice.Entropy,7:F3}");
                }

                output.WriteLine($"{rows.Count} slices");
                break;
        }
    }

    private static List<string> Columns(IReadOnlyList<string> classes) =>
        ["path", "sop_instance_uid", "series_instance_uid", "frame", "tile", "position", "predicted_class", "max_probability", "entropy", .. classes, "model_sha256", "classified_at"];

    private static Dictionary<string, object?> Record((string Path, string SeriesInstanceUid, SliceResult Slice, string ClassifiedAt) r, IReadOnlyList<string> classes)
    {
        var s = r.Slice;
        var record = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["path"] = r.Path,
            ["sop_instance_uid"] = s.SopInstanceUid,
            ["series_instance_uid"] = r.SeriesInstanceUid,
            ["frame"] = s.Frame,
            ["tile"] = s.Tile,
            ["position"] = s.Position,
            ["predicted_class"] = s.PredictedClass,
            ["max_probability"] = s.MaxProbability,
            ["entropy"] = s.Entropy,
        };
        foreach (var c in classes)
        {
            record[c] = s.Probabilities.TryGetValue(c, out var p) ? p : null;
        }

        record["model_sha256"] = s.ModelSha256;
        record["classified_at"] = r.ClassifiedAt;
        return record;
    }

    private static string Text(object? value) => value switch
    {
        null => string.Empty,
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    /// <summary>
    /// CSV as RFC 4180 has it: a header, CRLF line ends, fields with commas, quotes or line breaks quoted. A text
    /// cell a spreadsheet would run as a formula (it starts with = + - @, a tab or CR, and is not a number) gets a
    /// leading apostrophe: file names and series descriptions come from the scanner and can be made to look like one.
    /// </summary>
    public static void WriteCsv(TextWriter output, IReadOnlyList<string> columns, IEnumerable<IReadOnlyDictionary<string, object?>> records)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(records);
        output.Write(string.Join(',', columns.Select(Csv)) + "\r\n");
        foreach (var record in records)
        {
            output.Write(string.Join(',', columns.Select(c => Csv(Text(record.TryGetValue(c, out var value) ? value : null)))) + "\r\n");
        }
    }

    private static string Csv(string value)
    {
        if (value.Length > 0 && "=+-@\t\r".Contains(value[0], StringComparison.Ordinal) && !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            value = "'" + value;
        }

        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    private static string Shorten(string value, int width) => value.Length <= width ? value : "…" + value[^(width - 1)..];

    /// <summary>Parses <c>--since</c>: an ISO 8601 time, or an age such as 30m, 24h, 7d.</summary>
    public static DateTimeOffset? ParseSince(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var unit = text[^1];
        if (unit is 'm' or 'h' or 'd' && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var amount))
        {
            return DateTimeOffset.UtcNow - (unit switch { 'm' => TimeSpan.FromMinutes(amount), 'h' => TimeSpan.FromHours(amount), _ => TimeSpan.FromDays(amount) });
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : throw new FormatException($"--since '{text}' is neither a time (2026-11-23T08:00) nor an age (30m, 24h, 7d)");
    }

    /// <summary>Writes a plain aligned key/value block.</summary>
    public static void WriteBlock(TextWriter output, IEnumerable<(string Key, string Value)> lines)
    {
        var list = lines.ToList();
        var width = list.Max(l => l.Key.Length);
        var text = new StringBuilder();
        foreach (var (key, value) in list)
        {
            text.Append(key.PadRight(width)).Append("  ").AppendLine(value);
        }

        output.Write(text.ToString());
    }
}
