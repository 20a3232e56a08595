using System.Buffers.Binary;
using System.Diagnostics;
using EdgeMed.DicomIngest.Images;
using EdgeMed.DicomIngest.Normalization;

namespace EdgeMed.DicomIngest.Tests;

/// <summary>Defects found in code review, each with the input that showed it.</summary>
public sealed class ReviewRegressionTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("edgemed-review-").FullName;

    [Fact]
    public async Task LargeFileThatIsNotDicom_IsRefusedFromItsFirstBytes_WithoutReadingItIntoMemory()
    {
        // Issue 12, item 8: a 600 MB video on the share was read whole before the "DICM" check.
        var path = Path.Combine(_folder, "video.dcm");
        using (var file = new FileStream(path, FileMode.Create))
        {
            file.Write("RIFF....AVI LIST"u8);
            file.SetLength(600L << 20); // sparse: no disk used
        }

        using var reader = new DicomReader(new DicomIngestOptions(), DecoderIsolation.InProcess);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = await Assert.ThrowsAsync<DicomIngestException>(() => reader.ReadAsync(path));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(IngestFailure.NotDicom, e.Reason);
        Assert.True(allocated < 16 << 20, $"{allocated >> 20} MB allocated to refuse it");
    }

    [Fact]
    public async Task Convert_HostileUids_CannotWriteOutsideTheOutputFolder()
    {
        var input = Path.Combine(_folder, "in");
        Directory.CreateDirectory(input);
        var bytes = DicomBuilder.MrImage(4, 4, [.. Enumerable.Range(0, 16).Select(i => (ushort)i)])
            .Text(0x0020, 0x000E, "UI", "../../../../../tmp/edgemed-evil")
            .Text(0x0008, 0x0018, "UI", "/../../escape").Build();
        await File.WriteAllBytesAsync(Path.Combine(input, "hostile.dcm"), bytes);
        var output = Path.Combine(_folder, "out");
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "EdgeMed.DicomIngest")) { RedirectStandardOutput = true };
        foreach (var arg in new[] { "convert", input, output, "--size", "16" })
        {
            start.ArgumentList.Add(arg);
        }

        using (var process = Process.Start(start)!)
        {
            await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.Equal(0, process.ExitCode);
        }

        var written = Directory.GetFiles(output, "*.png", SearchOption.AllDirectories);
        Assert.Single(written);
        Assert.False(Directory.Exists("/tmp/edgemed-evil"));
        Assert.DoesNotContain('/', DicomCommands.Tail("a/../b", 24));
    }

    [Fact]
    public void Png_HeaderClaimingAHugeImage_IsRefusedBeforeAllocating()
    {
        var png = PngCodec.Write(new PngImage(1, 1, 3, 8, [1, 2, 3]));
        // Rewrite IHDR to 16384 × 16384 RGB (800 MB of pixels) and fix its CRC.
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), 16384);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), 65536);
        var crc = PngCodec.Crc32(png.AsSpan(12, 17));
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), crc);

        Assert.Throws<InvalidDataException>(() => PngCodec.Read(png));
    }

    [Fact]
    public async Task PaletteColor_IsRefusedNotReadAsIntensities()
    {
        var path = Path.Combine(_folder, "palette.dcm");
        await File.WriteAllBytesAsync(path, DicomBuilder.MrImage(2, 2, [1, 2, 3, 4]).Text(0x0028, 0x0004, "CS", "PALETTE COLOR").Build());
        using var reader = new DicomReader();

        var error = await Assert.ThrowsAsync<DicomIngestException>(() => reader.ReadAsync(path));

        Assert.Equal(IngestFailure.InvalidPixelAttributes, error.Reason);
    }

    [Fact]
    public void VoiWindowTooNarrowForFloats_FallsBackInsteadOfWritingNaN()
    {
        var normalizer = new SliceNormalizer(new NormalizationSettings { Size = 8, Channels = 1 });
        var output = new float[64];

        normalizer.Normalize<float>([.. Enumerable.Range(0, 64).Select(i => (float)i)], 8, 8, output, windowCenter: 0, windowWidth: 1e-40);

        Assert.All(output, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void DicomReader_DisposedTwice_IsFine()
    {
        var reader = new DicomReader();
        reader.Dispose();
        reader.Dispose();
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
