namespace EdgeMed.DicomIngest.Decoding;

/// <summary>
/// Pixel decoding through GDCM (Debian libgdcm-cil). The only file that touches GDCM types. GDCM can abort the
/// process on some valid files, so the ingest calls this inside <see cref="DecoderWorker"/>'s separate process;
/// in-process use is for trusted folders only.
/// </summary>
internal static class GdcmDecoder
{
    private static readonly Lock Quiet = new();
    private static bool _silenced;

    /// <summary>Decodes every frame of the file held in <paramref name="file"/>.</summary>
    /// <exception cref="DicomIngestException">GDCM cannot read or decode the file.</exception>
    public static DecodedPixels Decode(MemoryFile file)
    {
        Silence();
        ArgumentNullException.ThrowIfNull(file);
        using var reader = new gdcm.ImageReader();
        reader.SetFileName(file.Path);
        if (!reader.Read())
        {
            throw new DicomIngestException(IngestFailure.DecodeFailed, "GDCM could not read the image.");
        }

        file.Release(); // the data set is in GDCM's memory now (ImageReader reads it whole, pixel data included)

        var image = reader.GetImage();
        var pixelFormat = image.GetPixelFormat();
        var frames = image.GetNumberOfDimensions() >= 3 ? (int)image.GetDimension(2) : 1;
        var length = image.GetBufferLength();
        if (length == 0 || length > int.MaxValue)
        {
            throw new DicomIngestException(IngestFailure.DecodeFailed, $"GDCM reports a pixel buffer of {length} bytes.");
        }

        var buffer = new byte[length];
        if (!image.GetBuffer(buffer))
        {
            throw new DicomIngestException(IngestFailure.DecodeFailed, "GDCM could not decode the pixel data.");
        }

        return new DecodedPixels(
            (int)image.GetDimension(0),
            (int)image.GetDimension(1),
            Math.Max(1, frames),
            pixelFormat.GetSamplesPerPixel(),
            pixelFormat.GetBitsAllocated(),
            pixelFormat.GetBitsStored(),
            pixelFormat.GetPixelRepresentation(),
            image.GetPhotometricInterpretation().GetString()?.Trim() ?? string.Empty,
            (int)image.GetPlanarConfiguration(),
            buffer);
    }

    private static void Silence()
    {
        lock (Quiet)
        {
            if (!_silenced)
            {
                // GDCM writes warnings to stderr; the ingest reports its own reasons instead.
                gdcm.Trace.WarningOff();
                gdcm.Trace.ErrorOff();
                gdcm.Trace.DebugOff();
                _silenced = true;
            }
        }
    }
}
