using EdgeMed.DicomIngest.Images;

namespace EdgeMed.DicomIngest.Tests;

public sealed class PngCodecTests
{
    [Theory]
    [InlineData(1, 8)]
    [InlineData(1, 16)]
    [InlineData(3, 8)]
    [InlineData(3, 16)]
    public void WriteThenRead_RoundTripsEverySample(int channels, int depth)
    {
        var random = new Random(channels * depth);
        var max = depth == 8 ? 256 : 65536;
        var samples = Enumerable.Range(0, 13 * 7 * channels).Select(_ => (ushort)random.Next(max)).ToArray();
        var image = new PngImage(13, 7, channels, depth, samples);

        var read = PngCodec.Read(PngCodec.Write(image));

        Assert.Equal((13, 7, channels, depth), (read.Width, read.Height, read.Channels, read.BitDepth));
        Assert.Equal(samples, read.Samples);
    }

    [Fact]
    public void Read_FilteredRowsFromAnotherEncoder_MatchTheEncodersPixels()
    {
        // Rows filtered Sub, Up and Paeth by an independent encoder (Python's zlib, see ReferencePng); read them back exactly.
        var png = Convert.FromBase64String(ReferencePng);

        var image = PngCodec.Read(png);

        Assert.Equal((4, 3, 1, 8), (image.Width, image.Height, image.Channels, image.BitDepth));
        Assert.Equal(new ushort[] { 0, 10, 20, 30, 40, 50, 60, 70, 200, 150, 100, 255 }, image.Samples);
    }

    [Fact]
    public void Read_CorruptCrc_IsRefused()
    {
        var png = PngCodec.Write(new PngImage(2, 2, 1, 8, [1, 2, 3, 4]));
        png[^10] ^= 0xFF; // inside IEND's neighbourhood: the IDAT CRC or data

        Assert.Throws<InvalidDataException>(() => PngCodec.Read(png));
    }

    [Fact]
    public void Read_NotAPng_IsRefused() =>
        Assert.Throws<InvalidDataException>(() => PngCodec.Read("GIF89a..."u8));

    // 4×3 gray, rows filtered Sub, Up and Paeth (made with a tiny script: filter bytes 1, 2, 4).
    private const string ReferencePng = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAAAAACRn/EaAAAAFklEQVR4nGNk4OLiYtIAApYF587NBgANfwOdRLSl/AAAAABJRU5ErkJggg==";
}
