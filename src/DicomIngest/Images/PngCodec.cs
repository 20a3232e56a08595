using System.Buffers.Binary;
using System.IO.Compression;

namespace EdgeMed.DicomIngest.Images;

/// <summary>An image as 8- or 16-bit samples, row-major, interleaved channels.</summary>
/// <param name="Width">Columns.</param>
/// <param name="Height">Rows.</param>
/// <param name="Channels">1 gray, 3 RGB.</param>
/// <param name="BitDepth">8 or 16.</param>
/// <param name="Samples">Samples as ushort (8-bit values are 0–255).</param>
public sealed record PngImage(int Width, int Height, int Channels, int BitDepth, ushort[] Samples);

/// <summary>
/// PNG reading and writing over <see cref="ZLibStream"/>: gray, gray+alpha, RGB, RGBA and palette images at 8 or 16 bits
/// (gray also at 1, 2 and 4), non-interlaced. Alpha is dropped on reading. Written files are 8- or 16-bit gray or RGB.
/// </summary>
public static class PngCodec
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Whether <paramref name="bytes"/> start with the PNG signature.</summary>
    public static bool IsPng(ReadOnlySpan<byte> bytes) => bytes.Length >= 8 && bytes[..8].SequenceEqual(Signature);

    /// <summary>Reads a PNG file's pixels.</summary>
    /// <exception cref="InvalidDataException">Not a PNG, a kind we do not read, or corrupt.</exception>
    public static PngImage Read(ReadOnlySpan<byte> png)
    {
        if (!IsPng(png))
        {
            throw new InvalidDataException("Not a PNG file (bad signature).");
        }

        int width = 0, height = 0, depth = 0, colorType = -1;
        byte[]? palette = null;
        using var compressed = new MemoryStream();
        var position = 8;
        var ended = false;
        while (!ended)
        {
            if (png.Length - position < 12)
            {
                throw new InvalidDataException("PNG is truncated (chunk header).");
            }

            var length = BinaryPrimitives.ReadInt32BigEndian(png[position..]);
            var type = png.Slice(position + 4, 4);
            if (length < 0 || length > png.Length - position - 12)
            {
                throw new InvalidDataException("PNG is truncated or has a bad chunk length.");
            }

            var data = png.Slice(position + 8, length);
            var crc = BinaryPrimitives.ReadUInt32BigEndian(png[(position + 8 + length)..]);
            if (Crc32(png.Slice(position + 4, length + 4)) != crc)
            {
                throw new InvalidDataException($"PNG chunk {System.Text.Encoding.ASCII.GetString(type)} has a bad CRC.");
            }

            if (type.SequenceEqual("IHDR"u8))
            {
                if (length != 13)
                {
                    throw new InvalidDataException("PNG header has the wrong length.");
                }

                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                depth = data[8];
                colorType = data[9];
                if (data[12] != 0)
                {
                    throw new InvalidDataException("Interlaced PNG is not supported.");
                }
            }
            else if (type.SequenceEqual("PLTE"u8))
            {
                palette = data.ToArray();
            }
            else if (type.SequenceEqual("IDAT"u8))
            {
                compressed.Write(data);
            }
            else if (type.SequenceEqual("IEND"u8))
            {
                ended = true;
            }

            position += 12 + length;
        }

        var channelsIn = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => throw new InvalidDataException($"PNG color type {colorType} is not supported.") };
        var validDepth = colorType switch { 0 => depth is 1 or 2 or 4 or 8 or 16, 3 => depth is 1 or 2 or 4 or 8, _ => depth is 8 or 16 };
        if (!validDepth || width <= 0 || height <= 0 || (long)width * height > 256L * 1024 * 1024)
        {
            throw new InvalidDataException($"PNG of {width}×{height}, color type {colorType}, depth {depth} is not supported.");
        }

        if (colorType == 3 && palette is null)
        {
            throw new InvalidDataException("Palette PNG without a palette.");
        }

        var bitsPerPixel = channelsIn * depth;
        var strideLong = (((long)width * bitsPerPixel) + 7) / 8;
        var rawLength = (strideLong + 1) * height;
        if (rawLength > 1L << 30)
        {
            // Checked from the header before allocating: a 60-byte file must not ask for gigabytes.
            throw new InvalidDataException($"PNG of {width}×{height} at {bitsPerPixel} bits per pixel is larger than we read.");
        }

        var stride = (int)strideLong;
        var bytesPerPixel = Math.Max(1, bitsPerPixel / 8);
        var raw = new byte[rawLength];
        compressed.Position = 0;
        using (var inflater = new ZLibStream(compressed, CompressionMode.Decompress))
        {
            try
            {
                inflater.ReadExactly(raw);
            }
            catch (EndOfStreamException e)
            {
                throw new InvalidDataException("PNG image data is shorter than its size says.", e);
            }
        }

        Unfilter(raw, stride, height, bytesPerPixel);
        return Expand(raw, width, height, stride, depth, colorType, channelsIn, palette);
    }

    /// <summary>Writes an 8- or 16-bit gray (1 channel) or RGB (3 channels) PNG.</summary>
    public static byte[] Write(PngImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Channels is not (1 or 3) || image.BitDepth is not (8 or 16) || image.Samples.Length != image.Width * image.Height * image.Channels)
        {
            throw new ArgumentException("PNG writing takes 1 or 3 channels at 8 or 16 bits, with width × height × channels samples.", nameof(image));
        }

        var bytesPerSample = image.BitDepth / 8;
        var stride = image.Width * image.Channels * bytesPerSample;
        using var idat = new MemoryStream();
        using (var deflater = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
        {
            var row = new byte[stride + 1]; // filter type 0 (none) first
            for (var y = 0; y < image.Height; y++)
            {
                for (var i = 0; i < image.Width * image.Channels; i++)
                {
                    var v = image.Samples[(y * image.Width * image.Channels) + i];
                    if (bytesPerSample == 1)
                    {
                        row[1 + i] = (byte)Math.Min(v, (ushort)255);
                    }
                    else
                    {
                        BinaryPrimitives.WriteUInt16BigEndian(row.AsSpan(1 + (i * 2)), v);
                    }
                }

                deflater.Write(row);
            }
        }

        using var png = new MemoryStream();
        png.Write(Signature);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), image.Height);
        header[8] = (byte)image.BitDepth;
        header[9] = (byte)(image.Channels == 1 ? 0 : 2);
        WriteChunk(png, "IHDR"u8, header);
        WriteChunk(png, "IDAT"u8, idat.ToArray());
        WriteChunk(png, "IEND"u8, []);
        return png.ToArray();
    }

    /// <summary>Writes unit-range floats (clipped to [0, 1]) as an 8-bit gray PNG.</summary>
    public static byte[] WriteGray8(ReadOnlySpan<float> unit, int width, int height)
    {
        var samples = new ushort[width * height];
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = (ushort)Math.Round(Math.Clamp(unit[i], 0f, 1f) * 255f);
        }

        return Write(new PngImage(width, height, 1, 8, samples));
    }

    private static void Unfilter(byte[] raw, int stride, int height, int bpp)
    {
        for (var y = 0; y < height; y++)
        {
            var filter = raw[y * (stride + 1)];
            var row = raw.AsSpan((y * (stride + 1)) + 1, stride);
            var previous = y == 0 ? Span<byte>.Empty : raw.AsSpan(((y - 1) * (stride + 1)) + 1, stride);
            for (var x = 0; x < stride; x++)
            {
                int a = x >= bpp ? row[x - bpp] : 0;
                int b = previous.IsEmpty ? 0 : previous[x];
                int c = x >= bpp && !previous.IsEmpty ? previous[x - bpp] : 0;
                row[x] = filter switch
                {
                    0 => row[x],
                    1 => (byte)(row[x] + a),
                    2 => (byte)(row[x] + b),
                    3 => (byte)(row[x] + ((a + b) / 2)),
                    4 => (byte)(row[x] + Paeth(a, b, c)),
                    _ => throw new InvalidDataException($"PNG row {y} has unknown filter {filter}."),
                };
            }
        }
    }

    private static int Paeth(int a, int b, int c)
    {
        var p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static PngImage Expand(byte[] raw, int width, int height, int stride, int depth, int colorType, int channelsIn, byte[]? palette)
    {
        var channelsOut = colorType is 2 or 6 ? 3 : colorType == 3 ? 3 : 1;
        var samples = new ushort[width * height * channelsOut];
        for (var y = 0; y < height; y++)
        {
            var row = raw.AsSpan((y * (stride + 1)) + 1, stride);
            for (var x = 0; x < width; x++)
            {
                for (var ch = 0; ch < channelsOut; ch++)
                {
                    int value;
                    if (colorType == 3)
                    {
                        var index = SubByte(row, x, depth);
                        if ((index * 3) + 2 >= palette!.Length)
                        {
                            throw new InvalidDataException("PNG palette index out of range.");
                        }

                        value = palette[(index * 3) + ch];
                    }
                    else if (depth == 16)
                    {
                        value = BinaryPrimitives.ReadUInt16BigEndian(row[(((x * channelsIn) + ch) * 2)..]);
                    }
                    else if (depth == 8)
                    {
                        value = row[(x * channelsIn) + ch];
                    }
                    else
                    {
                        value = SubByte(row, x, depth) * 255 / ((1 << depth) - 1); // 1/2/4-bit gray scaled to 8 bits
                    }

                    samples[(((y * width) + x) * channelsOut) + ch] = (ushort)value;
                }
            }
        }

        return new PngImage(width, height, channelsOut, depth == 16 ? 16 : 8, samples);
    }

    private static int SubByte(ReadOnlySpan<byte> row, int x, int depth)
    {
        if (depth == 8)
        {
            return row[x];
        }

        var bit = x * depth;
        return (row[bit / 8] >> (8 - depth - (bit % 8))) & ((1 << depth) - 1);
    }

    private static void WriteChunk(Stream stream, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        stream.Write(word);
        var typed = new byte[4 + data.Length];
        type.CopyTo(typed);
        data.CopyTo(typed.AsSpan(4));
        stream.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typed));
        stream.Write(word);
    }

    private static readonly uint[] CrcTable = BuildCrcTable();

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }

    internal static uint Crc32(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc ^ 0xFFFFFFFFu;
    }
}
