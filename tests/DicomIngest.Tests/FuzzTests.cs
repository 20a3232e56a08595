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
                var (mutated, how) = Mutate(original, random);
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

    private static (byte[] Bytes, string How) Mutate(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        // Most structure lives in the first few kilobytes; aim most mutations there.
        int Offset() => random.Next(random.Next(4) == 0 ? bytes.Length : Math.Min(bytes.Length, 4096));
        switch (random.Next(5))
        {
            case 0:
                var flips = 1 + random.Next(8);
                for (var k = 0; k < flips; k++)
                {
                    bytes[Offset()] ^= (byte)(1 << random.Next(8));
                }

                return (bytes, "bitflip");
            case 1:
                return (bytes[..Offset()], "truncate");
            case 2:
                // Overwrite what may be a length field (at an even offset) with something hostile.
                var at = Offset() & ~1;
                uint[] hostile = [0, 1, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, (uint)random.Next()];
                BitConverter.TryWriteBytes(bytes.AsSpan(Math.Min(at, bytes.Length - 4)), hostile[random.Next(hostile.Length)]);
                return (bytes, "length");
            case 3:
                // Replace a tag with a delimiter, an item, pixel data or a random one.
                var tagAt = Math.Min(Offset() & ~1, bytes.Length - 4);
                uint[] tags = [0xE000FFFE, 0xE00DFFFE, 0xE0DDFFFE, 0x00107FE0, 0x00100002, (uint)random.Next()];
                BitConverter.TryWriteBytes(bytes.AsSpan(tagAt), tags[random.Next(tags.Length)]);
                return (bytes, "tag");
            default:
                var start = Offset();
                var count = Math.Min(bytes.Length - start, 1 + random.Next(64));
                random.NextBytes(bytes.AsSpan(start, count));
                return (bytes, "random-run");
        }
    }
}
