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
        var bitsAllocated = pixelFormat.GetBitsAllocated();
        var bitsStored = pixelFormat.GetBitsStored();
        var native = !image.GetTransferSyntax().IsEncapsulated();
        var frames = image.GetNumberOfDimensions() >= 3 ? (int)image.GetDimension(2) : 1;
        if (native)
        {
            // GDCM pads short native pixel data (e.g. a damaged file whose Pixel Data element GDCM found early) with
            // zeros: a blank slice that looks valid. The managed header check sees the file's own element, not GDCM's.
            var needed = (long)image.GetDimension(0) * image.GetDimension(1) * Math.Max(1, frames) * pixelFormat.GetSamplesPerPixel() * (bitsAllocated / 8);
            using var vl = image.GetDataElement().GetVL();
            var held = vl.GetValueLength();
            if (held < needed)
            {
                throw new DicomIngestException(IngestFailure.DecodeFailed, $"GDCM holds {held} bytes of native pixel data; {needed} are needed.");
            }
        }

        if (bitsStored < bitsAllocated && native)
        {
            // GDCM takes High Bit as Bits Stored - 1 and clears the bits above, which destroys a value stored higher
            // up (some older scanners put 12 bits at the top of 16). Native samples come back whole instead; the
            // slice extractor picks the stored bits out with the header's High Bit.
            using var whole = new gdcm.PixelFormat(pixelFormat.GetSamplesPerPixel(), bitsAllocated, bitsAllocated, (ushort)(bitsAllocated - 1), pixelFormat.GetPixelRepresentation());
            image.SetPixelFormat(whole);
        }

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
            bitsAllocated,
            bitsStored,
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
