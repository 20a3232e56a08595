using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace EdgeMed.DicomIngest.Dicom;

/// <summary>
/// Reads Siemens' CSA image header (private element (0029,1010), format "SV10"), which carries the number of
/// images in a mosaic and the slice normal. Malformed headers read as empty: they are private data, not ours to refuse.
/// </summary>
internal static class SiemensCsaHeader
{
    public static IReadOnlyDictionary<string, string[]> Parse(ReadOnlySpan<byte> data)
    {
        var result = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (data.Length < 16 || !data[..4].SequenceEqual("SV10"u8))
        {
            return result;
        }

        var count = BinaryPrimitives.ReadInt32LittleEndian(data[8..]);
        var position = 16;
        for (var t = 0; t < count && t < 1000; t++)
        {
            // name[64], vm int32, vr[4], syngodt int32, nitems int32, xx int32
            if (position + 84 > data.Length)
            {
                break;
            }

            var name = Encoding.ASCII.GetString(data.Slice(position, 64)).Split('\0')[0];
            var items = BinaryPrimitives.ReadInt32LittleEndian(data[(position + 76)..]);
            position += 84;
            var values = new List<string>();
            for (var i = 0; i < items && i < 1000; i++)
            {
                if (position + 16 > data.Length)
                {
                    return result;
                }

                var length = BinaryPrimitives.ReadInt32LittleEndian(data[(position + 4)..]);
                position += 16;
                // Compared as a difference: a hostile length must not overflow past the check.
                if (length < 0 || length > data.Length - position)
                {
                    return result;
                }

                var text = Encoding.ASCII.GetString(data.Slice(position, length)).Trim('\0', ' ');
                if (text.Length > 0)
                {
                    values.Add(text);
                }

                position += (int)Math.Min(((long)length + 3) & ~3L, data.Length - position);
            }

            result[name] = [.. values];
        }

        return result;
    }

    public static double[]? Doubles(IReadOnlyDictionary<string, string[]> csa, string name)
    {
        if (!csa.TryGetValue(name, out var values) || values.Length == 0)
        {
            return null;
        }

        var parsed = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            if (!double.TryParse(values[i], NumberStyles.Float, CultureInfo.InvariantCulture, out parsed[i]))
            {
                return null;
            }
        }

        return parsed;
    }
}
