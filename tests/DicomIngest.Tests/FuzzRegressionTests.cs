namespace EdgeMed.DicomIngest.Tests;

/// <summary>Inputs found by <see cref="FuzzTests"/> (seed 20261123), kept with their files in Fixtures/.</summary>
public sealed class FuzzRegressionTests : IDisposable
{
    private readonly DicomReader _reader = new();

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task Fuzz1594_CorruptCsaItemLength_IsIgnoredLikeAnyPrivateData_NotArgumentOutOfRange()
    {
        // A length inside Siemens' private CSA header overflowed the bounds check; the image itself is intact.
        var instance = await _reader.ReadAsync(Fixture("fuzz-1594-length-out-of-range.dcm"));

        Assert.Equal(35, instance.Slices.Count);
    }

    [Theory]
    [InlineData("fuzz-0781-tag-decoder-crash.dcm")]
    [InlineData("fuzz-1555-tag-decoder-crash.dcm")]
    public async Task FuzzCasesWithAnEarlyTwoBytePixelDataElement_AreRefused_NotReadAsBlankSlices(string name)
    {
        // A header tag corrupted into (7FE0,0010) with 2 bytes: GDCM takes it for the pixel data. It used to die
        // clearing the unused high bits; asked for whole samples it pads the 2 bytes with zeros (a black slice).
        var error = await Assert.ThrowsAsync<DicomIngestException>(() => _reader.ReadAsync(Fixture(name)));

        Assert.Equal(IngestFailure.DecodeFailed, error.Reason);
    }

    [Theory]
    [InlineData("fuzz-0414-bitflip-decoder-crash.dcm")]
    [InlineData("fuzz-0781-tag-decoder-crash.dcm")]
    [InlineData("fuzz-1555-tag-decoder-crash.dcm")]
    public async Task FuzzCasesThatKillGdcm_CostOnlyThemselves(string name)
    {
        var good = Path.Combine(SharedData.TransferSyntaxes, "1.dcm");

        var error = await Assert.ThrowsAsync<DicomIngestException>(() => _reader.ReadAsync(Fixture(name)));
        var after = await _reader.ReadAsync(good);

        // fuzz-0414 keeps GDCM busy for about 30 s before it dies; on a loaded machine that can pass the decode
        // timeout. Either way the file alone is refused and the next read works, which is what this test is about.
        Assert.True(error.Reason is IngestFailure.DecoderCrashed or IngestFailure.DecoderTimeout or IngestFailure.DecodeFailed or IngestFailure.InconsistentLength or IngestFailure.Truncated, $"{name}: {error.ReasonCode} {error.Message}");
        Assert.Equal(35, after.Slices.Count);
    }

    public void Dispose() => _reader.Dispose();
}
