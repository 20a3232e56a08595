using System.Runtime.InteropServices;

namespace EdgeMed.DicomIngest.Interop;

/// <summary>libjpeg-turbo's TurboJPEG API (Debian <c>libturbojpeg0</c>): the calls <see cref="Images.JpegDecoder"/> makes.</summary>
internal static partial class TurboJpeg
{
    private const string Library = "libturbojpeg.so.0";

    /// <summary>TJPF_GRAY.</summary>
    internal const int PixelFormatGray = 6;

    [LibraryImport(Library, EntryPoint = "tjInitDecompress")]
    internal static partial TurboJpegHandle InitDecompress();

    [LibraryImport(Library, EntryPoint = "tjDecompressHeader3")]
    internal static unsafe partial int DecompressHeader3(TurboJpegHandle handle, byte* jpegBuf, nuint jpegSize, out int width, out int height, out int subsampling, out int colorspace);

    [LibraryImport(Library, EntryPoint = "tjDecompress2")]
    internal static unsafe partial int Decompress2(TurboJpegHandle handle, byte* jpegBuf, nuint jpegSize, byte* dstBuf, int width, int pitch, int height, int pixelFormat, int flags);

    [LibraryImport(Library, EntryPoint = "tjGetErrorStr2")]
    internal static partial nint GetErrorStr2(TurboJpegHandle handle);

    [LibraryImport(Library, EntryPoint = "tjDestroy")]
    internal static partial int Destroy(nint handle);
}

/// <summary>A TurboJPEG decompressor (<c>tjhandle</c>), destroyed exactly once.</summary>
internal sealed class TurboJpegHandle() : SafeHandle(0, ownsHandle: true)
{
    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => TurboJpeg.Destroy(handle) == 0;
}
