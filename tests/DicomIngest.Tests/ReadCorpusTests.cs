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

    public void Dispose() => _reader.Dispose();
}
