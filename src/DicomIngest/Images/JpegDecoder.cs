using System.Runtime.InteropServices;

namespace EdgeMed.DicomIngest.Images;

/// <summary>
/// Decodes JPEG files to 8-bit gray through libjpeg-turbo's TurboJPEG API (Debian <c>libturbojpeg0</c>).
/// Keeps its native handle and output buffer between calls; not thread-safe (one per thread).
/// </summary>
public sealed partial class JpegDecoder : IDisposable
{
    private const string Library = "libturbojpeg.so.0";
    private const int PixelFormatGray = 6; // TJPF_GRAY
    private nint _handle;
    private byte[] _pixels = [];

    /// <summary>Creates a decoder.</summary>
    /// <exception cref="DllNotFoundException">libturbojpeg0 is not installed (./edgemed.sh setup installs it).</exception>
    public JpegDecoder()
    {
        _handle = TjInitDecompress();
        if (_handle == 0)
        {
            throw new InvalidOperationException("tjInitDecompress failed.");
        }
    }

    /// <summary>Decodes <paramref name="jpeg"/>; the returned span is valid until the next call.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a decodable JPEG.</exception>
    public ReadOnlySpan<byte> Decode(ReadOnlySpan<byte> jpeg, out int width, out int height)
    {
        ObjectDisposedException.ThrowIf(_handle == 0, this);
        unsafe
        {
            fixed (byte* source = jpeg)
            {
                if (TjDecompressHeader3(_handle, source, (nuint)jpeg.Length, out width, out height, out _, out _) != 0)
                {
                    throw new InvalidDataException($"Not a readable JPEG: {Error()}");
                }

                if (width <= 0 || height <= 0 || (long)width * height > 256L * 1024 * 1024)
                {
                    throw new InvalidDataException($"JPEG of {width}×{height} pixels is outside what we read.");
                }

                var length = width * height;
                if (_pixels.Length < length)
                {
                    _pixels = new byte[length];
                }

                fixed (byte* destination = _pixels)
                {
                    if (TjDecompress2(_handle, source, (nuint)jpeg.Length, destination, width, 0, height, PixelFormatGray, 0) != 0)
                    {
                        throw new InvalidDataException($"JPEG decoding failed: {Error()}");
                    }
                }

                return _pixels.AsSpan(0, length);
            }
        }
    }

    /// <summary>Releases the native decompressor.</summary>
    public void Dispose()
    {
        if (_handle != 0)
        {
            _ = TjDestroy(_handle);
            _handle = 0;
        }
    }

    private string Error() => Marshal.PtrToStringUTF8(TjGetErrorStr2(_handle)) ?? "unknown error";

    [LibraryImport(Library, EntryPoint = "tjInitDecompress")]
    private static partial nint TjInitDecompress();

    [LibraryImport(Library, EntryPoint = "tjDecompressHeader3")]
    private static unsafe partial int TjDecompressHeader3(nint handle, byte* jpegBuf, nuint jpegSize, out int width, out int height, out int subsampling, out int colorspace);

    [LibraryImport(Library, EntryPoint = "tjDecompress2")]
    private static unsafe partial int TjDecompress2(nint handle, byte* jpegBuf, nuint jpegSize, byte* dstBuf, int width, int pitch, int height, int pixelFormat, int flags);

    [LibraryImport(Library, EntryPoint = "tjGetErrorStr2")]
    private static partial nint TjGetErrorStr2(nint handle);

    [LibraryImport(Library, EntryPoint = "tjDestroy")]
    private static partial int TjDestroy(nint handle);
}
