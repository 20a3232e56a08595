using EdgeMed.DicomIngest.Slices;

namespace EdgeMed.DicomIngest.Images;

/// <summary>Loads JPEG and PNG images (training folders) as slices without geometry, in their own sample units.</summary>
public static class ImageSlice
{
    /// <summary>Whether <paramref name="path"/> names a JPEG or PNG by its extension.</summary>
    public static bool IsImageFile(string path) =>
        Path.GetExtension(path).ToLowerInvariant() is ".jpg" or ".jpeg" or ".png";

    /// <summary>Reads a JPEG (through <paramref name="jpeg"/>) or PNG file as a gray slice; color PNGs become luminance.</summary>
    /// <exception cref="InvalidDataException">The file is not a readable JPEG or PNG.</exception>
    public static Slice Load(string path, JpegDecoder jpeg)
    {
        ArgumentNullException.ThrowIfNull(jpeg);
        var bytes = File.ReadAllBytes(path);
        var id = Path.GetFileName(path);
        if (PngCodec.IsPng(bytes))
        {
            var png = PngCodec.Read(bytes);
            var pixels = new float[png.Width * png.Height];
            for (var i = 0; i < pixels.Length; i++)
            {
                pixels[i] = png.Channels == 1
                    ? png.Samples[i]
                    : (float)((0.299 * png.Samples[i * 3]) + (0.587 * png.Samples[(i * 3) + 1]) + (0.114 * png.Samples[(i * 3) + 2]));
            }

            return new Slice { SopInstanceUid = id, Rows = png.Height, Columns = png.Width, Pixels = pixels };
        }

        var gray = jpeg.Decode(bytes, out var width, out var height);
        var values = new float[gray.Length];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = gray[i];
        }

        return new Slice { SopInstanceUid = id, Rows = height, Columns = width, Pixels = values };
    }
}
