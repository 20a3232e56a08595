using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace EdgeMed.DicomIngest.Dicom;

/// <summary>
/// Builds a data set in explicit VR little endian and writes it as a PS3.10 file: the objects the agent sends back
/// (structured reports) are small and made of text, sequences and UIDs, so a managed writer keeps GDCM, which can abort
/// the process, out of the agent. Elements are written in tag order; sequences and items have defined lengths.
/// </summary>
public sealed class DicomWriter
{
    /// <summary>Explicit VR little endian.</summary>
    public const string ExplicitVrLittleEndian = "1.2.840.10008.1.2.1";

    // VRs whose explicit encoding has two reserved bytes and a 32-bit length (PS3.5 7.1.2).
    private static readonly HashSet<string> LongVrs = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"];

    // Text VRs padded with a NUL instead of a space (PS3.5 6.2).
    private static readonly HashSet<string> NulPadded = ["UI", "OB", "UN"];

    private readonly SortedDictionary<uint, byte[]> _elements = [];

    /// <summary>
    /// Adds (or replaces) a text element; null or empty writes a zero-length value (a type 2 element that is unknown).
    /// Written in ASCII, non-ASCII characters as '?': ASCII reads the same under any Specific Character Set an object
    /// copies from its source (ISO_IR 100, ISO_IR 192, none); elements copied byte for byte go through <see cref="Encoded"/>.
    /// </summary>
    public DicomWriter Text(uint tag, string vr, string? value)
    {
        var bytes = Encoding.ASCII.GetBytes(value ?? string.Empty);
        return Raw(tag, vr, bytes);
    }

    /// <summary>Adds a decimal string (DS): at most 16 characters, invariant culture.</summary>
    public DicomWriter DecimalString(uint tag, double value)
    {
        var text = value.ToString("0.######", CultureInfo.InvariantCulture);
        return Text(tag, "DS", text.Length <= 16 ? text : value.ToString("G10", CultureInfo.InvariantCulture));
    }

    /// <summary>Adds unsigned shorts (US).</summary>
    public DicomWriter UnsignedShort(uint tag, ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, value);
        return Raw(tag, "US", bytes);
    }

    /// <summary>Adds a value as the bytes given (padded to even length), e.g. an element copied from another object.</summary>
    public DicomWriter Raw(uint tag, string vr, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(vr);
        if (vr.Length != 2 || vr == "SQ")
        {
            throw new ArgumentException($"VR '{vr}' is not a value VR", nameof(vr));
        }

        var padded = value.Length % 2 == 0 ? value.ToArray() : [.. value, NulPadded.Contains(vr) ? (byte)0 : (byte)' '];
        _elements[tag] = Encode(tag, vr, padded);
        return this;
    }

    /// <summary>Adds a sequence of items (an empty list writes an empty sequence, for type 2 sequences).</summary>
    public DicomWriter Sequence(uint tag, params IEnumerable<DicomWriter> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        using var content = new MemoryStream();
        Span<byte> header = stackalloc byte[8];
        foreach (var item in items)
        {
            var body = item.Body();
            BinaryPrimitives.WriteUInt16LittleEndian(header, 0xFFFE);
            BinaryPrimitives.WriteUInt16LittleEndian(header[2..], 0xE000);
            BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)body.Length);
            content.Write(header);
            content.Write(body);
        }

        _elements[tag] = Encode(tag, "SQ", content.ToArray());
        return this;
    }

    /// <summary>
    /// Adds elements already encoded in explicit VR little endian (a run of whole elements, as
    /// <see cref="InstanceMetadata.SourceModule"/> holds them); throws when they do not parse as such.
    /// </summary>
    public DicomWriter Encoded(ReadOnlySpan<byte> elements)
    {
        var at = 0;
        while (at < elements.Length)
        {
            if (elements.Length - at < 8)
            {
                throw new InvalidDataException("truncated element");
            }

            var tag = ((uint)BinaryPrimitives.ReadUInt16LittleEndian(elements[at..]) << 16) | BinaryPrimitives.ReadUInt16LittleEndian(elements[(at + 2)..]);
            var vr = Encoding.ASCII.GetString(elements.Slice(at + 4, 2));
            var (headerLength, length) = LongVrs.Contains(vr)
                ? (12, elements.Length - at >= 12 ? BinaryPrimitives.ReadUInt32LittleEndian(elements[(at + 8)..]) : uint.MaxValue)
                : (8, BinaryPrimitives.ReadUInt16LittleEndian(elements[(at + 6)..]));
            if (vr == "SQ" || length > (uint)(elements.Length - at - headerLength))
            {
                throw new InvalidDataException($"element {tag:X8} is not a whole value element");
            }

            _elements[tag] = elements.Slice(at, headerLength + (int)length).ToArray();
            at += headerLength + (int)length;
        }

        return this;
    }

    /// <summary>Whether the data set has an element with this tag.</summary>
    public bool Contains(uint tag) => _elements.ContainsKey(tag);

    /// <summary>The data set's elements, encoded, in tag order (no file meta).</summary>
    public byte[] Body()
    {
        using var stream = new MemoryStream();
        foreach (var element in _elements.Values)
        {
            stream.Write(element);
        }

        return stream.ToArray();
    }

    /// <summary>The PS3.10 file: preamble, <c>DICM</c>, file meta group (explicit VR little endian), then the data set.</summary>
    public byte[] ToFile(string sopClassUid, string sopInstanceUid, string implementationClassUid, string implementationVersion)
    {
        var meta = new DicomWriter()
            .Raw(0x00020001, "OB", [0, 1])
            .Text(0x00020002, "UI", sopClassUid)
            .Text(0x00020003, "UI", sopInstanceUid)
            .Text(0x00020010, "UI", ExplicitVrLittleEndian)
            .Text(0x00020012, "UI", implementationClassUid)
            .Text(0x00020013, "SH", implementationVersion)
            .Body();
        return Part10(meta, Body());
    }

    /// <summary>Preamble, <c>DICM</c>, the file meta group's length, the group (already encoded) and the data set.</summary>
    internal static byte[] Part10(ReadOnlySpan<byte> meta, ReadOnlySpan<byte> dataset)
    {
        using var file = new MemoryStream();
        file.Write(new byte[128]);
        file.Write("DICM"u8);
        var length = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)meta.Length);
        file.Write(Encode(0x00020000, "UL", length));
        file.Write(meta);
        file.Write(dataset);
        return file.ToArray();
    }

    /// <summary>One element in explicit VR little endian.</summary>
    internal static byte[] Encode(uint tag, string vr, ReadOnlySpan<byte> value)
    {
        var isLong = LongVrs.Contains(vr);
        if (!isLong && value.Length > ushort.MaxValue)
        {
            throw new ArgumentException($"a {vr} value of {value.Length} bytes does not fit a 16-bit length", nameof(value));
        }

        var header = isLong ? 12 : 8;
        var bytes = new byte[header + value.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, (ushort)(tag >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2), (ushort)tag);
        bytes[4] = (byte)vr[0];
        bytes[5] = (byte)vr[1];
        if (isLong)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)value.Length);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), (ushort)value.Length);
        }

        value.CopyTo(bytes.AsSpan(header));
        return bytes;
    }
}
