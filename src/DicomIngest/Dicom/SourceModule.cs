namespace EdgeMed.DicomIngest.Dicom;

/// <summary>
/// The elements a result object copies from the images it reports on: the Patient module (PS3.3 C.7.1.1) and the
/// General Study module's identification (C.7.2.1), with the character set their text is in. A PACS files an SR
/// under the patient and study these name, so they are copied byte for byte, never re-encoded.
/// </summary>
public static class SourceModule
{
    /// <summary>Tag and VR of each copied element (the VR is needed for implicit VR sources).</summary>
    public static readonly IReadOnlyList<(uint Tag, string Vr)> Elements =
    [
        (0x00080005, "CS"), // Specific Character Set
        (0x00080020, "DA"), // Study Date
        (0x00080030, "TM"), // Study Time
        (0x00080050, "SH"), // Accession Number
        (0x00080090, "PN"), // Referring Physician's Name
        (0x00081030, "LO"), // Study Description
        (0x00100010, "PN"), // Patient's Name
        (0x00100020, "LO"), // Patient ID
        (0x00100021, "LO"), // Issuer of Patient ID
        (0x00100030, "DA"), // Patient's Birth Date
        (0x00100040, "CS"), // Patient's Sex
        (0x00200010, "SH"), // Study ID
    ];

    /// <summary>The copied elements present in a data set, encoded in explicit VR little endian (text values need no byte swap).</summary>
    internal static byte[] Extract(DicomDataset dataset)
    {
        var writer = new DicomWriter();
        foreach (var (tag, vr) in Elements)
        {
            if (dataset[new DicomTag(tag)] is { IsSequence: false } element && element.Value.Length <= ushort.MaxValue - 1)
            {
                writer.Raw(tag, vr, element.Value.Span);
            }
        }

        return writer.Body();
    }
}
