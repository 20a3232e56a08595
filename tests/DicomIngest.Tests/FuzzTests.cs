using System.Globalization;
using Xunit.Abstractions;

namespace EdgeMed.DicomIngest.Tests;

/// <summary>
/// Mutation fuzzing over the shared corpus: bit flips, truncation, length and tag corruption. Every outcome must be
/// slices or a <see cref="DicomIngestException"/>; anything else escaping is a bug. 2,000 cases in CI;
/// <c>EDGEMED_FUZZ_CASES</c> and <c>EDGEMED_FUZZ_SEED</c> run more on demand.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    [Fact]
    public async Task MutatedCorpus_NeverThrowsAnythingButDicomIngestException()
    {
        var cases = int.TryParse(Environment.GetEnvironmentVariable("EDGEMED_FUZZ_CASES"), CultureInfo.InvariantCulture, out var n) ? n : 2_000;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("EDGEMED_FUZZ_SEED"), CultureInfo.InvariantCulture, out var s) ? s : 20261123;
        var random = new Random(seed);
        // Small files keep the run short; the mosaics and the GE slices cover every transfer syntax and layout.
        var corpus = SharedData.AllDicomFiles().Where(f => new FileInfo(f).Length < 600_000).Select(File.ReadAllBytes).ToArray();
        var folder = Directory.CreateTempSubdirectory("edgemed-fuzz-").FullName;
        var crashes = Path.Combine(folder, "crashes");
        var outcomes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        using var reader = new DicomReader(new DicomIngestOptions { DecodeTimeout = TimeSpan.FromSeconds(20) });
        try
        {
            for (var i = 0; i < cases; i++)
            {
                var original = corpus[random.Next(corpus.Length)];
                var (mutated, how) = DicomMutator.Mutate(original, random);
                var path = Path.Combine(folder, $"case-{i:D5}.dcm");
                await File.WriteAllBytesAsync(path, mutated);
                string outcome;
                try
                {
                    var instance = await reader.ReadAsync(path);
                    outcome = "read";
                }
                catch (DicomIngestException e)
                {
                    outcome = e.ReasonCode;
                    if (e.Reason is IngestFailure.DecoderCrashed or IngestFailure.DecoderTimeout)
                    {
                        Directory.CreateDirectory(crashes);
                        File.Copy(path, Path.Combine(crashes, $"case-{i:D5}-{how}.dcm"));
                    }
                }
                catch (Exception e)
                {
                    outcome = "UNEXPECTED " + e.GetType().Name;
                    unexpected.Add($"case {i} ({how}): {e}");
                    Directory.CreateDirectory(crashes);
                    File.Copy(path, Path.Combine(crashes, $"case-{i:D5}-{how}-unexpected.dcm"));
                }

                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
                File.Delete(path);
            }

            output.WriteLine($"{cases} cases, seed {seed}, decoder starts {reader.DecoderStarts}: " + string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}")));
            if (Directory.Exists(crashes))
            {
                output.WriteLine($"decoder crashes and timeouts: {string.Join(", ", Directory.GetFiles(crashes).Select(Path.GetFileName))}"
                    + (Keep ? $" (kept in {crashes} for regression fixtures)" : " (set EDGEMED_FUZZ_KEEP=1 to keep the files)"));
            }

            Assert.Empty(unexpected);
            Assert.True(outcomes.GetValueOrDefault("read") > 0, "no mutated file was read at all: the mutations are too destructive to test decoding");
        }
        finally
        {
            if (!Keep)
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private static bool Keep => Environment.GetEnvironmentVariable("EDGEMED_FUZZ_KEEP") == "1";
}
