using System.Security.Cryptography;
using System.Text;

namespace EdgeMed.DicomIngest.Dicom;

/// <summary>
/// Reads and checks a file's header in managed code: everything the ingest needs to know, and every refusal that
/// can be decided, before pixel decoding starts.
/// </summary>
internal static class DicomHeaderReader
{
    /// <summary>Files larger than this are checked by their first bytes before the whole file is read into memory.</summary>
    private const long PrecheckAbove = 1 << 20;

    /// <summary>Reads <paramref name="path"/> whole, refusing what is too large or, when large, does not start like DICOM.</summary>
    /// <exception cref="DicomIngestException">Refused, or unreadable (the I/O exception is the inner one).</exception>
    public static byte[] ReadFile(string path, DicomIngestOptions options)
    {
        try
        {
            // One open: the size check, the first bytes and the rest come from the same file description.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan);
            var length = stream.Length;
            if (length > options.MaxFileBytes || length > Array.MaxLength)
            {
                throw new DicomIngestException(IngestFailure.TooLarge, $"The file has {length} bytes; the limit is {Math.Min(options.MaxFileBytes, Array.MaxLength)}.");
            }

            // A large file that does not even start like DICOM (a video, a disk image on the share) is refused from
            // its first bytes, not after reading all of it into memory.
            var head = Array.Empty<byte>();
            if (length > PrecheckAbove)
            {
                head = new byte[132];
                stream.ReadExactly(head);
                DicomFileReader.CheckStart(head);
            }

            var bytes = new byte[length];
            head.CopyTo(bytes, 0);
            stream.ReadExactly(bytes, head.Length, bytes.Length - head.Length); // a file cut short while read: EndOfStreamException
            return bytes;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Kind and code, not the message: it names the file, and these messages reach log lines.
            throw new DicomIngestException(IngestFailure.Unreadable, $"Cannot read the file ({e.GetType().Name} 0x{e.HResult:X8})", e);
        }
    }

    public static (InstanceMetadata Metadata, DicomFile File) Read(byte[] bytes, DicomIngestOptions options)
    {
        var file = DicomFileReader.Read(bytes);
        InstanceMetadata metadata;
        try
        {
            metadata = Describe(file, options.PatientKeySalt);
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or OverflowException)
        {
            // Same defence as the reader's: malformed content we did not foresee is a refused file, not a crash.
            throw new DicomIngestException(IngestFailure.InconsistentLength, $"Malformed header content: {e.Message}", e);
        }

        Check(file, metadata, options);
        return (metadata, file);
    }

    /// <summary>Builds the metadata record; throws only for a missing SOP instance identity.</summary>
    public static InstanceMetadata Describe(DicomFile file, string salt)
    {
        var ds = file.Dataset;
        var sopClass = ds.GetString(DicomTag.SopClassUid) ?? string.Empty;
        var shared = ds.GetFirstItem(DicomTag.SharedFunctionalGroups);
        var isMosaic = ds.GetStrings(DicomTag.ImageType).Contains("MOSAIC", StringComparer.OrdinalIgnoreCase) || ds.Contains(DicomTag.SiemensNumberOfImagesInMosaic);
        int? tiles = null;
        double[]? sliceNormal = null;
        if (isMosaic)
        {
            var csaElement = ds[DicomTag.SiemensCsaImageHeader];
            var csa = csaElement is null ? new Dictionary<string, string[]>() : SiemensCsaHeader.Parse(csaElement.Value.Span);
            tiles = ds.GetUInt16(DicomTag.SiemensNumberOfImagesInMosaic) is { } fromTag ? fromTag : SiemensCsaHeader.Doubles(csa, "NumberOfImagesInMosaic") is [var n, ..] ? (int)n : null;
            sliceNormal = SiemensCsaHeader.Doubles(csa, "SliceNormalVector") is { Length: 3 } normal ? normal : null;
            if (tiles is null or < 1)
            {
                tiles = null;
            }
        }

        // Pixel measures are shared, or (Philips often) repeated per frame: take the first frame's then.
        var measures = shared?.GetFirstItem(DicomTag.PixelMeasuresSequence)
            ?? ds.GetFirstItem(DicomTag.PerFrameFunctionalGroups)?.GetFirstItem(DicomTag.PixelMeasuresSequence);
        var bitsAllocated = ds.GetUInt16(DicomTag.BitsAllocated) ?? 0;
        var bitsStored = ds.GetUInt16(DicomTag.BitsStored) ?? bitsAllocated;
        return new InstanceMetadata
        {
            SopClassUid = sopClass,
            SopInstanceUid = ds.GetString(DicomTag.SopInstanceUid) ?? string.Empty,
            StudyInstanceUid = ds.GetString(DicomTag.StudyInstanceUid),
            SeriesInstanceUid = ds.GetString(DicomTag.SeriesInstanceUid),
            Modality = ds.GetString(DicomTag.Modality),
            SeriesDescription = ds.GetString(DicomTag.SeriesDescription),
            Manufacturer = ds.GetString(DicomTag.Manufacturer),
            TransferSyntaxUid = file.TransferSyntaxUid,
            TransferSyntax = TransferSyntax.ShortName(file.TransferSyntaxUid),
            Rows = ds.GetUInt16(DicomTag.Rows) ?? 0,
            Columns = ds.GetUInt16(DicomTag.Columns) ?? 0,
            Frames = Math.Max(1, ds.GetIntegerString(DicomTag.NumberOfFrames) ?? 1),
            SamplesPerPixel = ds.GetUInt16(DicomTag.SamplesPerPixel) ?? 1,
            BitsAllocated = bitsAllocated,
            BitsStored = bitsStored,
            // Where the stored bits start in a native sample; a High Bit outside the sample leaves them at the bottom.
            StoredBitsOffset = file.PixelData is { Encapsulated: false } && ds.GetUInt16(DicomTag.HighBit) is { } high && high >= bitsStored && high < bitsAllocated
                ? high + 1 - bitsStored
                : 0,
            PixelRepresentation = ds.GetUInt16(DicomTag.PixelRepresentation) ?? 0,
            PhotometricInterpretation = ds.GetString(DicomTag.PhotometricInterpretation),
            RescaleSlope = ds.GetDecimal(DicomTag.RescaleSlope) is { } slope && slope != 0 ? slope : 1,
            RescaleIntercept = ds.GetDecimal(DicomTag.RescaleIntercept) ?? 0,
            WindowCenter = ds.GetDecimal(DicomTag.WindowCenter),
            WindowWidth = ds.GetDecimal(DicomTag.WindowWidth),
            PixelSpacing = Valid(ds.GetDecimals(DicomTag.PixelSpacing), 2) ?? Valid(measures?.GetDecimals(DicomTag.PixelSpacing), 2),
            SliceThickness = ds.GetDecimal(DicomTag.SliceThickness) ?? measures?.GetDecimal(DicomTag.SliceThickness),
            SpacingBetweenSlices = ds.GetDecimal(DicomTag.SpacingBetweenSlices) ?? measures?.GetDecimal(DicomTag.SpacingBetweenSlices),
            ImageOrientationPatient = Valid(ds.GetDecimals(DicomTag.ImageOrientationPatient), 6)
                ?? Valid(shared?.GetFirstItem(DicomTag.PlaneOrientationSequence)?.GetDecimals(DicomTag.ImageOrientationPatient), 6),
            ImagePositionPatient = Valid(ds.GetDecimals(DicomTag.ImagePositionPatient), 3),
            AcquisitionTime = ds.GetString(DicomTag.AcquisitionTime),
            ContentTime = ds.GetString(DicomTag.ContentTime),
            InstanceNumber = ds.GetIntegerString(DicomTag.InstanceNumber),
            PatientKey = ds.GetString(DicomTag.PatientId) is { } id ? PatientKey(id, salt) : null,
            SourceModule = Dicom.SourceModule.Extract(ds),
            MosaicTiles = tiles,
            SliceNormal = sliceNormal,
            FrameGeometries = ReadFrameGeometries(ds, shared),
        };
    }

    private static void Check(DicomFile file, InstanceMetadata m, DicomIngestOptions options)
    {
        var sopClass = m.SopClassUid;
        if (sopClass.Length > 0 && SopClasses.IsNonImage(sopClass))
        {
            throw new DicomIngestException(IngestFailure.NonImageSopClass, $"SOP class {sopClass} carries no image.");
        }

        if (file.PixelData is null)
        {
            throw new DicomIngestException(IngestFailure.MissingPixelData, "The data set has no pixel data.");
        }

        if (sopClass.Length > 0 && !options.AcceptedSopClasses.Contains(sopClass))
        {
            throw new DicomIngestException(IngestFailure.UnwantedSopClass, $"SOP class {sopClass} is not among the accepted image classes.");
        }

        if (!TransferSyntax.IsSupported(file.TransferSyntaxUid))
        {
            throw new DicomIngestException(IngestFailure.UnsupportedTransferSyntax, $"Transfer syntax {file.TransferSyntaxUid} is not supported.");
        }

        if (m.Rows <= 0 || m.Columns <= 0 || m.BitsAllocated is not (8 or 16 or 32) || m.SamplesPerPixel is not (1 or 3)
            || m.BitsStored <= 0 || m.BitsStored > m.BitsAllocated || m.PhotometricInterpretation is null)
        {
            throw new DicomIngestException(IngestFailure.InvalidPixelAttributes,
                $"Unusable pixel attributes: {m.Rows}×{m.Columns}, {m.SamplesPerPixel} samples, {m.BitsStored}/{m.BitsAllocated} bits, photometric '{m.PhotometricInterpretation}'.");
        }

        if (m.PhotometricInterpretation is not ("MONOCHROME1" or "MONOCHROME2" or "RGB") && !m.PhotometricInterpretation.StartsWith("YBR", StringComparison.Ordinal))
        {
            // PALETTE COLOR pixels are indices into a lookup table, not intensities.
            throw new DicomIngestException(IngestFailure.InvalidPixelAttributes, $"Photometric interpretation {m.PhotometricInterpretation} is not supported.");
        }

        if (m.SamplesPerPixel == 3 && !options.ConvertColorToLuminance)
        {
            throw new DicomIngestException(IngestFailure.InvalidPixelAttributes, $"Color image ({m.PhotometricInterpretation}); set ConvertColorToLuminance to read it.");
        }

        var samples = (long)m.Rows * m.Columns * m.Frames * m.SamplesPerPixel;
        if (samples > options.MaxPixels)
        {
            throw new DicomIngestException(IngestFailure.TooLarge, $"The image has {samples} samples ({m.Rows}×{m.Columns}×{m.Frames}×{m.SamplesPerPixel}); the budget is {options.MaxPixels}.");
        }

        if (!file.PixelData.Encapsulated && file.PixelData.Length < samples * (m.BitsAllocated / 8))
        {
            throw new DicomIngestException(IngestFailure.InconsistentLength, $"Pixel data has {file.PixelData.Length} bytes; {m.Rows}×{m.Columns}×{m.Frames}×{m.SamplesPerPixel} samples of {m.BitsAllocated} bits need {samples * (m.BitsAllocated / 8)}.");
        }

        if (m.FrameGeometries.Count > 0 && m.FrameGeometries.Count != m.Frames)
        {
            throw new DicomIngestException(IngestFailure.InvalidPixelAttributes, $"{m.Frames} frames but {m.FrameGeometries.Count} per-frame functional groups.");
        }
    }

    private static FrameGeometry[] ReadFrameGeometries(DicomDataset ds, DicomDataset? shared)
    {
        var perFrame = ds.GetItems(DicomTag.PerFrameFunctionalGroups);
        if (perFrame.Count == 0)
        {
            return [];
        }

        var sharedOrientation = Valid(shared?.GetFirstItem(DicomTag.PlaneOrientationSequence)?.GetDecimals(DicomTag.ImageOrientationPatient), 6);
        var sharedTransform = shared?.GetFirstItem(DicomTag.PixelValueTransformationSequence);
        var sharedVoi = shared?.GetFirstItem(DicomTag.FrameVoiLutSequence);
        var frames = new FrameGeometry[perFrame.Count];
        for (var i = 0; i < frames.Length; i++)
        {
            var item = perFrame[i];
            var transform = item.GetFirstItem(DicomTag.PixelValueTransformationSequence) ?? sharedTransform;
            var voi = item.GetFirstItem(DicomTag.FrameVoiLutSequence) ?? sharedVoi;
            frames[i] = new FrameGeometry(
                Valid(item.GetFirstItem(DicomTag.PlanePositionSequence)?.GetDecimals(DicomTag.ImagePositionPatient), 3),
                Valid(item.GetFirstItem(DicomTag.PlaneOrientationSequence)?.GetDecimals(DicomTag.ImageOrientationPatient), 6) ?? sharedOrientation,
                transform?.GetDecimal(DicomTag.RescaleSlope) is { } slope && slope != 0 ? slope : null,
                transform?.GetDecimal(DicomTag.RescaleIntercept),
                voi?.GetDecimal(DicomTag.WindowCenter),
                voi?.GetDecimal(DicomTag.WindowWidth));
        }

        return frames;
    }

    private static double[]? Valid(double[]? values, int count) => values is not null && values.Length >= count ? values[..count] : null;

    private static string PatientKey(string patientId, string salt)
    {
        var hash = HMACSHA256.HashData(Encoding.UTF8.GetBytes(salt), Encoding.UTF8.GetBytes(patientId));
        return Convert.ToHexStringLower(hash.AsSpan(0, 8));
    }
}
