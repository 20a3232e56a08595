namespace EdgeMed.DicomIngest.Dicom;

/// <summary>
/// Writes a PS3.10 preamble and file meta group in front of a bare data set. GDCM refuses files without file meta,
/// so a data set whose encoding the managed reader inferred is handed to the decoder in this form.
/// </summary>
internal static class FileMetaWriter
{
    public static byte[] WithFileMeta(ReadOnlySpan<byte> dataset, string sopClassUid, string sopInstanceUid, string transferSyntaxUid)
    {
        var meta = new DicomWriter()
            .Raw(0x00020001, "OB", [0, 1])
            .Text(0x00020002, "UI", sopClassUid)
            .Text(0x00020003, "UI", sopInstanceUid)
            .Text(0x00020010, "UI", transferSyntaxUid)
            .Body();
        return DicomWriter.Part10(meta, dataset);
    }
}
