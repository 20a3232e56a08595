namespace EdgeMed.Tests;

/// <summary>
/// Mutations of DICOM files for fuzzing (bit flips, truncation, hostile length fields and tags, random runs), shared
/// by the reader's fuzz test and the agent's: the same mutations, one place.
/// </summary>
internal static class DicomMutator
{
    /// <summary>One mutation of <paramref name="original"/> (a copy); <c>How</c> names its kind.</summary>
    public static (byte[] Bytes, string How) Mutate(byte[] original, Random random)
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
