namespace EdgeMed.DicomIngest;

/// <summary>
/// What the ingest keeps of one DICOM instance. Patient name, ID and birth date are never kept as fields; a salted
/// hash of the Patient ID groups instances of one patient without identifying them. They travel only inside
/// <see cref="SourceModule"/>, the bytes result objects copy, which nothing logs or shows.
/// </summary>
public sealed record InstanceMetadata
{
    /// <summary>SOP class UID.</summary>
    public required string SopClassUid { get; init; }

    /// <summary>SOP instance UID.</summary>
    public required string SopInstanceUid { get; init; }

    /// <summary>Study instance UID.</summary>
    public string? StudyInstanceUid { get; init; }

    /// <summary>Series instance UID.</summary>
    public string? SeriesInstanceUid { get; init; }

    /// <summary>Modality, e.g. MR.</summary>
    public string? Modality { get; init; }

    /// <summary>Series description.</summary>
    public string? SeriesDescription { get; init; }

    /// <summary>Manufacturer.</summary>
    public string? Manufacturer { get; init; }

    /// <summary>Transfer syntax UID.</summary>
    public required string TransferSyntaxUid { get; init; }

    /// <summary>Short transfer syntax name (explicit-le, jpeg-ls-lossless...).</summary>
    public required string TransferSyntax { get; init; }

    /// <summary>Rows of one stored frame.</summary>
    public int Rows { get; init; }

    /// <summary>Columns of one stored frame.</summary>
    public int Columns { get; init; }

    /// <summary>Number of frames (1 for single-frame objects).</summary>
    public int Frames { get; init; } = 1;

    /// <summary>Samples per pixel (1 gray, 3 color).</summary>
    public int SamplesPerPixel { get; init; } = 1;

    /// <summary>Bits allocated per sample.</summary>
    public int BitsAllocated { get; init; }

    /// <summary>Bits stored per sample.</summary>
    public int BitsStored { get; init; }

    /// <summary>
    /// Where the stored bits start in a native sample: High Bit + 1 − Bits Stored (0 in almost every file; some older
    /// scanners put 12 stored bits at the top of 16). 0 for compressed pixel data, which decodes into the low bits.
    /// </summary>
    public int StoredBitsOffset { get; init; }

    /// <summary>0 unsigned, 1 two's complement.</summary>
    public int PixelRepresentation { get; init; }

    /// <summary>Photometric interpretation (MONOCHROME1, MONOCHROME2, RGB, YBR_FULL...).</summary>
    public string? PhotometricInterpretation { get; init; }

    /// <summary>Rescale slope (1 when absent).</summary>
    public double RescaleSlope { get; init; } = 1;

    /// <summary>Rescale intercept (0 when absent).</summary>
    public double RescaleIntercept { get; init; }

    /// <summary>VOI window center, when the file has one.</summary>
    public double? WindowCenter { get; init; }

    /// <summary>VOI window width, when the file has one.</summary>
    public double? WindowWidth { get; init; }

    /// <summary>Pixel spacing in mm: between rows, between columns.</summary>
    public double[]? PixelSpacing { get; init; }

    /// <summary>Slice thickness in mm.</summary>
    public double? SliceThickness { get; init; }

    /// <summary>Spacing between slices in mm.</summary>
    public double? SpacingBetweenSlices { get; init; }

    /// <summary>Image orientation (patient): row cosines then column cosines.</summary>
    public double[]? ImageOrientationPatient { get; init; }

    /// <summary>Image position (patient) of the first pixel, mm.</summary>
    public double[]? ImagePositionPatient { get; init; }

    /// <summary>Acquisition time (DICOM TM text).</summary>
    public string? AcquisitionTime { get; init; }

    /// <summary>Content time (DICOM TM text).</summary>
    public string? ContentTime { get; init; }

    /// <summary>Instance number.</summary>
    public int? InstanceNumber { get; init; }

    /// <summary>Salted SHA-256 of the Patient ID (hex, 16 chars), for grouping; null when the file has none.</summary>
    public string? PatientKey { get; init; }

    /// <summary>
    /// The source's patient and study elements (<see cref="Dicom.SourceModule.Elements"/>) as encoded elements in
    /// explicit VR little endian, so a result object about this instance (a DICOM SR) carries the same patient and
    /// study as the images; identifying: never logged or shown. Empty when the file has none of them.
    /// </summary>
    public byte[] SourceModule { get; init; } = [];

    /// <summary>Siemens mosaic: the number of tiles (images) in the frame; null for other images.</summary>
    public int? MosaicTiles { get; init; }

    /// <summary>Siemens slice normal from the CSA header (mosaics), when present.</summary>
    public double[]? SliceNormal { get; init; }

    /// <summary>Per-frame geometry and rescale of multi-frame (enhanced) objects; empty for classic ones.</summary>
    public IReadOnlyList<FrameGeometry> FrameGeometries { get; init; } = [];
}

/// <summary>Position, orientation and rescale of one frame of an enhanced multi-frame object.</summary>
/// <param name="ImagePositionPatient">Position of the frame's first pixel, mm.</param>
/// <param name="ImageOrientationPatient">Row then column direction cosines.</param>
/// <param name="RescaleSlope">Rescale slope of the frame; null to use the instance's.</param>
/// <param name="RescaleIntercept">Rescale intercept of the frame; null to use the instance's.</param>
/// <param name="WindowCenter">VOI window center of the frame, if any.</param>
/// <param name="WindowWidth">VOI window width of the frame, if any.</param>
public sealed record FrameGeometry(double[]? ImagePositionPatient, double[]? ImageOrientationPatient, double? RescaleSlope, double? RescaleIntercept, double? WindowCenter, double? WindowWidth);
