using Xunit.Abstractions;

namespace EdgeMed.DicomIngest.Tests;

public sealed class ReadCorpusTests(ITestOutputHelper output) : IDisposable
{
    private readonly DicomReader _reader = new();

    [Fact]
    public async Task EveryFileInTheCorpus_IsReadOrRefusedWithAReason()
    {
        var outcomes = new List<string>();
        foreach (var file in SharedData.AllDicomFiles())
        {
            try
            {
                var instance = await _reader.ReadAsync(file);
                outcomes.Add($"ok {instance.Slices.Count} slices {instance.Metadata.TransferSyntax} {Path.GetRelativePath(SharedData.Dicom, file)}");
                Assert.NotEmpty(instance.Slices);
            }
            catch (DicomIngestException e)
            {
                outcomes.Add($"{e.ReasonCode} {Path.GetRelativePath(SharedData.Dicom, file)}: {e.Message}");
                // Only the Philips raw-data objects are not images.
                Assert.Equal(IngestFailure.NonImageSopClass, e.Reason);
                Assert.EndsWith("_Raw.dcm", file, StringComparison.Ordinal);
            }
        }

        foreach (var line in outcomes)
        {
            output.WriteLine(line);
        }

        Assert.Equal(1, _reader.DecoderStarts);
    }

    [Theory]
    [InlineData(DecoderIsolation.SeparateProcess)]
    [InlineData(DecoderIsolation.InProcess)]
    public async Task BytesReadOnce_AreWhatIsDecoded_WithoutOpeningThePathAgain(DecoderIsolation isolation)
    {
        // The agent hashes a file's bytes and hands those same bytes on: the header reader and GDCM (in its process or
        // this one) must not open the path again. The recorded path does not exist, so any second read would fail.
        using var reader = new DicomReader(isolation: isolation);
        var files = SharedData.AllDicomFiles().Where(f => !f.EndsWith("_Raw.dcm", StringComparison.Ordinal)).ToList();
        var bare = File.ReadAllBytes(Path.Combine(SharedData.TransferSyntaxes, "2.dcm"));
        bare = bare[(132 + 12 + BitConverter.ToInt32(bare, 132 + 8))..]; // no file meta: GDCM gets a copy with one
        foreach (var (name, content) in files.Select(f => (f, File.ReadAllBytes(f))).Append(("2.dcm without file meta", bare)))
        {
            var nowhere = Path.Combine("/nonexistent", Guid.NewGuid().ToString("N") + ".dcm");

            var fromBytes = await reader.ReadAsync(nowhere, content);

            Assert.Equal(nowhere, fromBytes.Path);
            Assert.NotEmpty(fromBytes.Slices);
            if (File.Exists(name))
            {
                var fromFile = await _reader.ReadAsync(name);
                Assert.Equal(fromFile.Slices.Count, fromBytes.Slices.Count);
                Assert.All(fromFile.Slices.Zip(fromBytes.Slices), p => Assert.Equal(p.First.Pixels, p.Second.Pixels));
            }
        }

        output.WriteLine($"{files.Count + 1} files decoded from their bytes ({isolation})");
        Assert.True(isolation == DecoderIsolation.InProcess || reader.DecoderStarts == 1, "one decoder process for all of them");
    }

    public void Dispose() => _reader.Dispose();
}
