namespace EdgeMed.DicomIngest.Tests;

public sealed class RefusalTests : IDisposable
{
    private readonly DicomReader _reader = new();
    private readonly string _folder = Directory.CreateTempSubdirectory("edgemed-dicom-").FullName;

    private static ushort[] Ramp(int count) => [.. Enumerable.Range(0, count).Select(i => (ushort)(i * 7))];

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private async Task<DicomIngestException> Refused(string path) =>
        await Assert.ThrowsAsync<DicomIngestException>(() => _reader.ReadAsync(path));

    [Fact]
    public async Task SyntheticMrImage_IsReadWithItsPixels()
    {
        var path = Write("ok.dcm", DicomBuilder.MrImage(4, 3, Ramp(12)).Build());

        var instance = await _reader.ReadAsync(path);

        var slice = Assert.Single(instance.Slices);
        Assert.Equal(Ramp(12).Select(v => (float)v), slice.Pixels);
        // The Patient ID is not kept anywhere in the metadata, only its salted hash.
        var texts = typeof(InstanceMetadata).GetProperties().Where(p => p.PropertyType == typeof(string)).Select(p => (string?)p.GetValue(instance.Metadata));
        Assert.DoesNotContain(texts, t => t is not null && t.Contains("PATIENT-42", StringComparison.Ordinal));
        Assert.Matches("^[0-9a-f]{16}$", instance.Metadata.PatientKey);
    }

    [Fact]
    public async Task TextFile_IsNotDicom() =>
        Assert.Equal(IngestFailure.NotDicom, (await Refused(Write("notes.txt", "Hello, scanner share.\n"u8.ToArray()))).Reason);

    [Fact]
    public async Task EmptyFile_IsNotDicom() =>
        Assert.Equal(IngestFailure.NotDicom, (await Refused(Write("empty.dcm", []))).Reason);

    [Fact]
    public async Task RealFileCutInHalf_IsTruncated()
    {
        var bytes = File.ReadAllBytes(Path.Combine(SharedData.TransferSyntaxes, "1.dcm"));

        Assert.Equal(IngestFailure.Truncated, (await Refused(Write("half.dcm", bytes[..(bytes.Length / 2)]))).Reason);
    }

    [Fact]
    public async Task NoPixelData_IsMissingPixelData() =>
        Assert.Equal(IngestFailure.MissingPixelData, (await Refused(Write("nopixels.dcm", DicomBuilder.MrImage(2, 2, Ramp(4)).Remove(0x7FE0, 0x0010).Build()))).Reason);

    [Fact]
    public async Task UnknownTransferSyntax_IsUnsupported() =>
        Assert.Equal(IngestFailure.UnsupportedTransferSyntax, (await Refused(Write("mpeg.dcm", DicomBuilder.MrImage(2, 2, Ramp(4)).Build("1.2.840.10008.1.2.4.100")))).Reason);

    [Fact]
    public async Task ImageOverThePixelBudget_IsTooLarge_FromTheHeaderAlone()
    {
        using var strict = new DicomReader(new DicomIngestOptions { MaxPixels = 100 });
        var path = Write("big.dcm", DicomBuilder.MrImage(16, 16, Ramp(256)).Build());

        var error = await Assert.ThrowsAsync<DicomIngestException>(() => strict.ReadAsync(path));

        Assert.Equal(IngestFailure.TooLarge, error.Reason);
        Assert.Equal(0, strict.DecoderStarts); // refused before decoding
    }

    [Fact]
    public async Task PixelDataShorterThanRowsTimesColumns_IsInconsistentLength() =>
        Assert.Equal(IngestFailure.InconsistentLength, (await Refused(Write("short.dcm", DicomBuilder.MrImage(8, 8, Ramp(10)).Build()))).Reason);

    [Fact]
    public async Task ElementLongerThanItsItem_IsInconsistentLength()
    {
        var bytes = DicomBuilder.MrImage(2, 2, Ramp(4)).Sequence(0x0008, 0x1140, new DicomBuilder().Text(0x0008, 0x1150, "UI", "1.2")).Build();
        // Give the item a defined length shorter than its content.
        var item = IndexOf(bytes, [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        bytes[item + 4] = 4;
        bytes[item + 5] = bytes[item + 6] = bytes[item + 7] = 0;

        Assert.Equal(IngestFailure.InconsistentLength, (await Refused(Write("item.dcm", bytes))).Reason);
    }

    [Fact]
    public async Task SequencesNestedTwentyDeep_AreRefused()
    {
        var inner = new DicomBuilder().Text(0x0008, 0x1150, "UI", "1.2");
        for (var i = 0; i < 20; i++)
        {
            inner = new DicomBuilder().Sequence(0x0008, 0x1140, inner);
        }

        var bytes = DicomBuilder.MrImage(2, 2, Ramp(4)).Sequence(0x0008, 0x1140, inner).Build();

        Assert.Equal(IngestFailure.NestingTooDeep, (await Refused(Write("deep.dcm", bytes))).Reason);
    }

    [Theory]
    [InlineData("1.2.840.10008.5.1.4.1.1.88.22", IngestFailure.NonImageSopClass)] // enhanced SR
    [InlineData("1.2.840.10008.5.1.4.1.1.11.1", IngestFailure.NonImageSopClass)] // grayscale presentation state
    [InlineData("1.2.840.10008.5.1.4.1.1.66", IngestFailure.NonImageSopClass)] // raw data
    [InlineData("1.2.840.10008.5.1.4.1.1.481.2", IngestFailure.UnwantedSopClass)] // RT dose
    public async Task UnwantedSopClasses_AreRefusedBeforeDecoding(string sopClass, IngestFailure expected)
    {
        var path = Write("sop.dcm", DicomBuilder.MrImage(2, 2, Ramp(4)).Text(0x0008, 0x0016, "UI", sopClass).Build());

        Assert.Equal(expected, (await Refused(path)).Reason);
        Assert.Equal(0, _reader.DecoderStarts);
    }

    [Fact]
    public async Task ColorImage_IsRefusedUnlessLuminanceIsAsked()
    {
        byte[] rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
        var bytes = DicomBuilder.MrImage(2, 2, Ramp(4))
            .UShort(0x0028, 0x0002, 3).UShort(0x0028, 0x0006, 0).Text(0x0028, 0x0004, "CS", "RGB")
            .UShort(0x0028, 0x0100, 8).UShort(0x0028, 0x0101, 8).UShort(0x0028, 0x0102, 7)
            .Raw(0x7FE0, 0x0010, "OB", rgb).Build();
        var path = Write("rgb.dcm", bytes);

        Assert.Equal(IngestFailure.InvalidPixelAttributes, (await Refused(path)).Reason);
        using var luminance = new DicomReader(new DicomIngestOptions { ConvertColorToLuminance = true });
        var slice = Assert.Single((await luminance.ReadAsync(path)).Slices);
        Assert.Equal([76.245f, 149.685f, 29.07f, 255f], slice.Pixels.Select(v => MathF.Round(v, 3)));
    }

    [Fact]
    public async Task DataSetWithoutFileMeta_IsReadByInferringItsEncoding()
    {
        var bare = DicomBuilder.MrImage(3, 3, Ramp(9)).DatasetBytes(); // explicit VR LE, no preamble, no meta

        var instance = await _reader.ReadAsync(Write("bare.dcm", bare));

        Assert.Equal(Ramp(9).Select(v => (float)v), Assert.Single(instance.Slices).Pixels);
        Assert.Equal("explicit-le", instance.Metadata.TransferSyntax);
    }

    [Fact]
    public async Task ImplicitDataSetWithoutFileMeta_IsReadByInferringItsEncoding()
    {
        // 2.dcm is implicit VR little endian; strip its preamble and file meta.
        var bytes = File.ReadAllBytes(Path.Combine(SharedData.TransferSyntaxes, "2.dcm"));
        var metaLength = BitConverter.ToInt32(bytes, 132 + 8);
        var bare = bytes[(132 + 12 + metaLength)..];

        var instance = await _reader.ReadAsync(Write("bare-implicit.dcm", bare));

        Assert.Equal("implicit-le", instance.Metadata.TransferSyntax);
        Assert.Equal(35, instance.Slices.Count);
    }

    [Fact]
    public async Task Monochrome1_IsInvertedSoHighMeansBright()
    {
        var path = Write("mono1.dcm", DicomBuilder.MrImage(1, 3, [0, 100, 65535]).Text(0x0028, 0x0004, "CS", "MONOCHROME1").Build());

        var slice = Assert.Single((await _reader.ReadAsync(path)).Slices);

        Assert.Equal([65535f, 65435f, 0f], slice.Pixels);
    }

    [Fact]
    public async Task RescaleAndBitsStored_AreApplied()
    {
        // 12 bits stored: the high nibble (overlay bits) must be ignored; then value * 2 - 1024.
        var path = Write("rescale.dcm", DicomBuilder.MrImage(1, 3, [0x0001, 0xF800, 0x0FFF])
            .UShort(0x0028, 0x0101, 12).UShort(0x0028, 0x0102, 11)
            .Text(0x0028, 0x1052, "DS", "-1024").Text(0x0028, 0x1053, "DS", "2").Build());

        var slice = Assert.Single((await _reader.ReadAsync(path)).Slices);

        Assert.Equal([-1022f, (0x800 * 2) - 1024f, (0xFFF * 2) - 1024f], slice.Pixels);
    }

    [Fact]
    public async Task FileThatAbortsGdcm_CostsOneFile_ReportedAsDecoderCrashed_AndTheDecoderRestarts()
    {
        var options = new DicomIngestOptions { AcceptedSopClasses = new HashSet<string>(SopClasses.DefaultAccepted) { "1.2.840.10008.5.1.4.1.1.481.2" } };
        using var reader = new DicomReader(options);
        var poison = Path.Combine(AppContext.BaseDirectory, "Fixtures", "gdcm-abort-rtdose_1frame.dcm");
        var good = Path.Combine(SharedData.TransferSyntaxes, "1.dcm");

        Assert.Equal(35, (await reader.ReadAsync(good)).Slices.Count);
        var error = await Assert.ThrowsAsync<DicomIngestException>(() => reader.ReadAsync(poison));
        var after = await reader.ReadAsync(good);

        Assert.Equal(IngestFailure.DecoderCrashed, error.Reason);
        Assert.Equal("decoder-crashed", error.ReasonCode);
        Assert.Contains("SIGABRT", error.Message);
        Assert.Equal(35, after.Slices.Count);
        Assert.Equal(2, reader.DecoderStarts);
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (var i = 0; i <= haystack.Length - needle.Length; i++)
        {
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle))
            {
                return i;
            }
        }

        throw new InvalidOperationException("pattern not found");
    }

    public void Dispose()
    {
        _reader.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
