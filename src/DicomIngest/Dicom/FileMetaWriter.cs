using System.Buffers.Binary;
using System.Text;

namespace EdgeMed.DicomIngest.Dicom;

/// <summary>
/// Writes a PS3.10 preamble and file meta group in front of a bare data set. GDCM refuses files without file meta,
/// so a data set whose encoding the managed reader inferred is handed to the decoder in this form.
/// </summary>
internal static class FileMetaWriter
{
    public static byte[] WithFileMeta(ReadOnlySpan<byte> dataset, string sopClassUid, string sopInstanceUid, string transferSyntaxUid)
    {
        using var meta = new MemoryStream();
        Element(meta, 0x0001, "OB", [0, 1]);
        Element(meta, 0x0002, "UI", Uid(sopClassUid));
        Element(meta, 0x0003, "UI", Uid(sopInstanceUid));
        Element(meta, 0x0010, "UI", Uid(transferSyntaxUid));
        using var file = new MemoryStream();
        file.Write(new byte[128]);
        file.Write("DICM"u8);
        var length = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)meta.Length);
        Element(file, 0x0000, "UL", length);
        meta.WriteTo(file);
        file.Write(dataset);
        return file.ToArray();
    }

    private static byte[] Uid(string uid)
    {
        var bytes = Encoding.ASCII.GetBytes(uid);
        return bytes.Length % 2 == 0 ? bytes : [.. bytes, 0];
    }

    private static void Element(Stream stream, ushort element, string vr, byte[] value)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt16LittleEndian(header, 0x0002);
        BinaryPrimitives.WriteUInt16LittleEndian(header[2..], element);
        header[4] = (byte)vr[0];
        header[5] = (byte)vr[1];
        if (vr == "OB")
        {
            header[6] = header[7] = 0;
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)value.Length);
            stream.Write(header);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header[6..], (ushort)value.Length);
            stream.Write(header[..8]);
        }

        stream.Write(value);
    }
}
