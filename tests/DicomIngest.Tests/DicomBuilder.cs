using System.Buffers.Binary;
using System.Text;

namespace EdgeMed.DicomIngest.Tests;

/// <summary>Writes small DICOM files (explicit VR little endian) for tests: exactly the elements given, in tag order.</summary>
internal sealed class DicomBuilder
{
    public const string ExplicitLittle = "1.2.840.10008.1.2.1";
    private readonly SortedDictionary<uint, byte[]> _elements = [];

    public static DicomBuilder MrImage(int rows, int columns, ushort[] pixels, string sopInstance = "1.2.3.4.5.6")
    {
        var b = new DicomBuilder()
            .Text(0x0008, 0x0016, "UI", SopClasses.MrImage)
            .Text(0x0008, 0x0018, "UI", sopInstance)
            .Text(0x0008, 0x0060, "CS", "MR")
            .Text(0x0010, 0x0020, "LO", "PATIENT-42")
            .Text(0x0020, 0x000D, "UI", "1.2.3.4")
            .Text(0x0020, 0x000E, "UI", "1.2.3.4.5")
            .Text(0x0020, 0x0032, "DS", "0\\0\\0")
            .Text(0x0020, 0x0037, "DS", "1\\0\\0\\0\\1\\0")
            .UShort(0x0028, 0x0002, 1)
            .Text(0x0028, 0x0004, "CS", "MONOCHROME2")
            .UShort(0x0028, 0x0010, (ushort)rows)
            .UShort(0x0028, 0x0011, (ushort)columns)
            .UShort(0x0028, 0x0100, 16)
            .UShort(0x0028, 0x0101, 16)
            .UShort(0x0028, 0x0102, 15)
            .UShort(0x0028, 0x0103, 0);
        var bytes = new byte[pixels.Length * 2];
        for (var i = 0; i < pixels.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), pixels[i]);
        }

        return b.Raw(0x7FE0, 0x0010, "OW", bytes);
    }

    public DicomBuilder Text(ushort group, ushort element, string vr, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        if (bytes.Length % 2 == 1)
        {
            bytes = [.. bytes, vr == "UI" ? (byte)0 : (byte)' '];
        }

        return Raw(group, element, vr, bytes);
    }

    public DicomBuilder UShort(ushort group, ushort element, ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, value);
        return Raw(group, element, "US", bytes);
    }

    public DicomBuilder Remove(ushort group, ushort element)
    {
        _elements.Remove(((uint)group << 16) | element);
        return this;
    }

    /// <summary>An element with its value bytes as given (explicit VR encoding).</summary>
    public DicomBuilder Raw(ushort group, ushort element, string vr, byte[] value)
    {
        _elements[((uint)group << 16) | element] = Encode(group, element, vr, value);
        return this;
    }

    /// <summary>A sequence of undefined length whose single item holds <paramref name="item"/>'s elements.</summary>
    public DicomBuilder Sequence(ushort group, ushort element, DicomBuilder item)
    {
        using var stream = new MemoryStream();
        stream.Write(Encode(group, element, "SQ", [], undefinedLength: true));
        stream.Write(ItemHeader(0xE000, 0xFFFFFFFF));
        foreach (var bytes in item._elements.Values)
        {
            stream.Write(bytes);
        }

        stream.Write(ItemHeader(0xE00D, 0));
        stream.Write(ItemHeader(0xE0DD, 0));
        _elements[((uint)group << 16) | element] = stream.ToArray();
        return this;
    }

    /// <summary>The data set alone, without preamble or file meta.</summary>
    public byte[] DatasetBytes() => [.. _elements.Values.SelectMany(e => e)];

    /// <summary>A Part 10 file: preamble, DICM, file meta with <paramref name="transferSyntax"/>, data set.</summary>
    public byte[] Build(string transferSyntax = ExplicitLittle)
    {
        var meta = new DicomBuilder()
            .Raw(0x0002, 0x0001, "OB", [0, 1])
            .Text(0x0002, 0x0002, "UI", SopClasses.MrImage)
            .Text(0x0002, 0x0003, "UI", "1.2.3.4.5.6")
            .Text(0x0002, 0x0010, "UI", transferSyntax)
            .DatasetBytes();
        var groupLength = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(groupLength, (uint)meta.Length);
        using var stream = new MemoryStream();
        stream.Write(new byte[128]);
        stream.Write("DICM"u8);
        stream.Write(Encode(0x0002, 0x0000, "UL", groupLength));
        stream.Write(meta);
        stream.Write(DatasetBytes());
        return stream.ToArray();
    }

    private static byte[] ItemHeader(ushort element, uint length)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, 0xFFFE);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2), element);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), length);
        return bytes;
    }

    private static byte[] Encode(ushort group, ushort element, string vr, byte[] value, bool undefinedLength = false)
    {
        var longForm = vr is "OB" or "OW" or "OF" or "SQ" or "UN" or "UT" or "UC" or "UR" or "OD" or "OL";
        using var stream = new MemoryStream();
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt16LittleEndian(header, group);
        BinaryPrimitives.WriteUInt16LittleEndian(header[2..], element);
        header[4] = (byte)vr[0];
        header[5] = (byte)vr[1];
        if (longForm)
        {
            header[6] = header[7] = 0;
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], undefinedLength ? 0xFFFFFFFF : (uint)value.Length);
            stream.Write(header);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header[6..], (ushort)value.Length);
            stream.Write(header[..8]);
        }

        stream.Write(value);
        return stream.ToArray();
    }
}
