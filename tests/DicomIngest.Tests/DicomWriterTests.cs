using EdgeMed.DicomIngest.Dicom;

namespace EdgeMed.DicomIngest.Tests;

/// <summary>
/// The managed PS3.10 writer the agent's result objects (SR, Secondary Capture) are made with: what it writes, the
/// ingest's own reader reads back; copied elements must be whole; its own text is ASCII.
/// </summary>
public sealed class DicomWriterTests
{
    [Fact]
    public void WhatItWrites_TheReaderReadsBack_SequencesTextAndLongValues()
    {
        var pixels = new byte[70001]; // odd and above 64 KiB: padded, 32-bit length
        pixels[70000] = 7;
        var file = new DicomWriter()
            .Text(0x00100010, "PN", "Doe^Jane")
            .Text(0x00080060, "CS", "SR")
            .Sequence(0x0040A730, new DicomWriter().Text(0x0040A040, "CS", "TEXT").Text(0x0040A160, "UT", "odd"), new DicomWriter())
            .Raw(0x7FE00010, "OB", pixels)
            .ToFile("1.2.840.10008.5.1.4.1.1.7", "2.25.1", "2.25.2", "TEST");
        var read = DicomFileReader.Read(file);
        Assert.True(read.HasFileMeta);
        Assert.Equal(DicomWriter.ExplicitVrLittleEndian, read.TransferSyntaxUid);
        Assert.Equal("Doe^Jane", read.Dataset.GetString(new DicomTag(0x00100010)));
        var items = read.Dataset.GetItems(new DicomTag(0x0040A730));
        Assert.Equal(2, items.Count);
        Assert.Equal("odd", items[0].GetString(new DicomTag(0x0040A160)));
        Assert.Equal(70002, read.PixelData?.Length);
    }

    [Fact]
    public void CopiedElements_MustBeWholeValueElements()
    {
        var whole = new DicomWriter().Text(0x00100020, "LO", "ID-1").Body();
        Assert.True(new DicomWriter().Encoded(whole).Contains(0x00100020));
        Assert.Throws<InvalidDataException>(() => new DicomWriter().Encoded(whole.AsSpan(0, whole.Length - 1)));
        var sequence = new DicomWriter().Sequence(0x00081115, new DicomWriter().Text(0x0020000E, "UI", "1.2")).Body();
        Assert.Throws<InvalidDataException>(() => new DicomWriter().Encoded(sequence));
    }

    [Fact]
    public void ItsOwnText_IsAscii_WhateverTheCharacterSetCopiedBesideIt()
    {
        var body = new DicomWriter().Text(0x00081030, "LO", "Démence").Body();
        Assert.Equal("D?mence ", System.Text.Encoding.ASCII.GetString(body.AsSpan(8)));
    }
}
