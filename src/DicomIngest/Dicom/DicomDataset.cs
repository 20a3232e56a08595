using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace EdgeMed.DicomIngest.Dicom;

/// <summary>One element: its value bytes are a slice of the file (no copy), or its items when it is a sequence.</summary>
internal sealed record DicomElement(DicomTag Tag, ushort Vr, ReadOnlyMemory<byte> Value, IReadOnlyList<DicomDataset>? Items, long Offset)
{
    public bool IsSequence => Items is not null;

    public string VrText => Vr == 0 ? "??" : $"{(char)(Vr >> 8)}{(char)(Vr & 0xFF)}";
}

/// <summary>
/// The elements of a data set or sequence item, read by <see cref="DicomFileReader"/>. Getters are lenient about
/// padding and return null when an element is missing or empty, and throw nothing for malformed text.
/// </summary>
internal sealed class DicomDataset(bool bigEndian)
{
    private readonly Dictionary<uint, DicomElement> _elements = [];

    public bool BigEndian { get; } = bigEndian;

    public IEnumerable<DicomElement> Elements => _elements.Values;

    public int Count => _elements.Count;

    public void Add(DicomElement element) => _elements[element.Tag.Value] = element;

    public DicomElement? this[DicomTag tag] => _elements.GetValueOrDefault(tag.Value);

    public bool Contains(DicomTag tag) => _elements.ContainsKey(tag.Value);

    /// <summary>The value as text with DICOM padding (spaces, NULs) trimmed; null when absent or empty.</summary>
    public string? GetString(DicomTag tag)
    {
        var element = this[tag];
        if (element is null || element.IsSequence || element.Value.IsEmpty)
        {
            return null;
        }

        var text = Encoding.Latin1.GetString(element.Value.Span).Trim(' ', '\0');
        return text.Length == 0 ? null : text;
    }

    /// <summary>The backslash-separated values of a multi-valued text element.</summary>
    public string[] GetStrings(DicomTag tag) =>
        GetString(tag) is { } text ? text.Split('\\', StringSplitOptions.TrimEntries) : [];

    /// <summary>Decimal string (DS) values; null when absent or when any value does not parse.</summary>
    public double[]? GetDecimals(DicomTag tag)
    {
        var parts = GetStrings(tag);
        if (parts.Length == 0)
        {
            return null;
        }

        var values = new double[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !double.IsFinite(values[i]))
            {
                return null;
            }
        }

        return values;
    }

    /// <summary>The first decimal value, or null.</summary>
    public double? GetDecimal(DicomTag tag) => GetDecimals(tag) is [var first, ..] ? first : null;

    /// <summary>An integer string (IS) value, or null.</summary>
    public int? GetIntegerString(DicomTag tag) =>
        GetString(tag) is { } text && int.TryParse(text.Split('\\')[0].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

    /// <summary>An unsigned short (US) value, read in the data set's byte order; null when absent or short.</summary>
    public ushort? GetUInt16(DicomTag tag)
    {
        var element = this[tag];
        if (element is null || element.IsSequence || element.Value.Length < 2)
        {
            return null;
        }

        var span = element.Value.Span;
        return BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(span) : BinaryPrimitives.ReadUInt16LittleEndian(span);
    }

    /// <summary>The items of a sequence, or an empty list.</summary>
    public IReadOnlyList<DicomDataset> GetItems(DicomTag tag) => this[tag]?.Items ?? [];

    /// <summary>The first item of a sequence, or null.</summary>
    public DicomDataset? GetFirstItem(DicomTag tag) => GetItems(tag) is [var first, ..] ? first : null;
}
