using System.Runtime.InteropServices;
using EdgeMed.DicomIngest.Interop;

namespace EdgeMed.DicomIngest.Images;

/// <summary>
/// Decodes JPEG files to 8-bit gray through libjpeg-turbo's TurboJPEG API (Debian <c>libturbojpeg0</c>).
/// Keeps its native handle and output buffer between calls; not thread-safe (one per thread).
/// </summary>
public sealed class JpegDecoder : IDisposable
{
    private readonly TurboJpegHandle _handle;
    private byte[] _pixels = [];

    /// <summary>Creates a decoder.</summary>
    /// <exception cref="DllNotFoundException">libturbojpeg0 is not installed (./edgemed.sh setup installs it).</exception>
    public JpegDecoder()
    {
        _handle = TurboJpeg.InitDecompress();
        if (_handle.IsInvalid)
        {
            throw new InvalidOperationException("tjInitDecompress failed.");
        }
    }

    /// <summary>Decodes <paramref name="jpeg"/>; the returned span is valid until the next call.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a decodable JPEG.</exception>
    public ReadOnlySpan<byte> Decode(ReadOnlySpan<byte> jpeg, out int width, out int height)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        unsafe
        {
            fixed (byte* source = jpeg)
            {
                if (TurboJpeg.DecompressHeader3(_handle, source, (nuint)jpeg.Length, out width, out height, out _, out _) != 0)
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
                    if (TurboJpeg.Decompress2(_handle, source, (nuint)jpeg.Length, destination, width, 0, height, TurboJpeg.PixelFormatGray, 0) != 0)
                    {
                        throw new InvalidDataException($"JPEG decoding failed: {Error()}");
                    }
                }

                return _pixels.AsSpan(0, length);
            }
        }
    }

    /// <summary>Releases the native decompressor.</summary>
    public void Dispose() => _handle.Dispose();

    private string Error() => Marshal.PtrToStringUTF8(TurboJpeg.GetErrorStr2(_handle)) ?? "unknown error";
}
