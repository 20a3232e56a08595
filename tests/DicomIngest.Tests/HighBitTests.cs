namespace EdgeMed.DicomIngest.Tests;

/// <summary>
/// Stored bits that do not start at bit 0 (High Bit above Bits Stored - 1, as some older scanners write 12 bits at
/// the top of 16). GDCM takes High Bit as Bits Stored - 1 and cleared the bits above, so such files were read as noise.
/// </summary>
public sealed class HighBitTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("edgemed-high-bit-").FullName;
    private readonly DicomReader _reader = new();

    [Theory]
    // Overlay bits in the low nibble; before the fix these read as 19, 15, 4080 (unsigned) or 19, 15, -16 (signed).
    [InlineData(0, new float[] { 1, 2048, 4095 })]
    [InlineData(1, new float[] { 1, -2048, -1 })]
    public async Task StoredBitsAtTheTopOfTheSample_AreReadAsTheirValue(int pixelRepresentation, float[] expected)
    {
        var path = Write(DicomBuilder.MrImage(1, 3, [0x0013, 0x800F, 0xFFF0])
            .UShort(0x0028, 0x0101, 12).UShort(0x0028, 0x0102, 15).UShort(0x0028, 0x0103, (ushort)pixelRepresentation).Build());

        var slice = Assert.Single((await _reader.ReadAsync(path)).Slices);

        Assert.Equal(expected, slice.Pixels);
    }

    [Fact]
    public async Task HighBitOutsideTheSample_KeepsTheStoredBitsAtTheBottom()
    {
        // High Bit 16 of a 16-bit sample cannot be right: the file is read as if High Bit were Bits Stored - 1.
        var path = Write(DicomBuilder.MrImage(1, 2, [0xF001, 0x0FFF]).UShort(0x0028, 0x0101, 12).UShort(0x0028, 0x0102, 16).Build());

        var slice = Assert.Single((await _reader.ReadAsync(path)).Slices);

        Assert.Equal([1f, 4095f], slice.Pixels);
    }

    private string Write(byte[] bytes)
    {
        var path = Path.Combine(_folder, "slice.dcm");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose()
    {
        _reader.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
