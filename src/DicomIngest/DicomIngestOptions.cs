namespace EdgeMed.DicomIngest;

/// <summary>Settings of the DICOM ingest. Bound from configuration by the agent; the CLI uses the defaults.</summary>
public sealed record DicomIngestOptions
{
    /// <summary>SOP classes whose images are read; others are refused before decoding.</summary>
    public IReadOnlySet<string> AcceptedSopClasses { get; init; } = SopClasses.DefaultAccepted;

    /// <summary>Largest image, in samples over all frames (rows × columns × frames × samples per pixel), checked from the header.</summary>
    public long MaxPixels { get; init; } = 256L * 1024 * 1024;

    /// <summary>Largest file read, in bytes.</summary>
    public long MaxFileBytes { get; init; } = 1L << 30;

    /// <summary>
    /// Salt of the Patient ID hash kept for grouping. Set one secret value per installation: the default makes
    /// hashes comparable across installations, which a clinic may not want.
    /// </summary>
    public string PatientKeySalt { get; init; } = "edgemed";

    /// <summary>Convert color images to luminance; when false they are refused as <see cref="IngestFailure.InvalidPixelAttributes"/>.</summary>
    public bool ConvertColorToLuminance { get; init; }

    /// <summary>
    /// Tolerance, in degrees, for calling a slice axial, coronal or sagittal. Brain MR is often angled along the
    /// AC–PC line by 10–20° (the GE series in the shared corpus by 13°): 25° still calls those axial.
    /// </summary>
    public double PlaneToleranceDegrees { get; init; } = 25;

    /// <summary>How long one decode may take in the decoder process before it is killed and restarted.</summary>
    public TimeSpan DecodeTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>SOP class UIDs the ingest recognises.</summary>
public static class SopClasses
{
    /// <summary>MR Image Storage.</summary>
    public const string MrImage = "1.2.840.10008.5.1.4.1.1.4";

    /// <summary>Enhanced MR Image Storage.</summary>
    public const string EnhancedMrImage = "1.2.840.10008.5.1.4.1.1.4.1";

    /// <summary>Legacy Converted Enhanced MR Image Storage.</summary>
    public const string LegacyConvertedEnhancedMrImage = "1.2.840.10008.5.1.4.1.1.4.4";

    /// <summary>Secondary Capture Image Storage.</summary>
    public const string SecondaryCapture = "1.2.840.10008.5.1.4.1.1.7";

    /// <summary>The image SOP classes read by default: MR (classic, enhanced, legacy converted) and secondary capture.</summary>
    public static IReadOnlySet<string> DefaultAccepted { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        MrImage, EnhancedMrImage, LegacyConvertedEnhancedMrImage, SecondaryCapture,
    };

    /// <summary>Whether <paramref name="uid"/> is a SOP class that carries no image to classify.</summary>
    public static bool IsNonImage(string uid) =>
        uid.StartsWith("1.2.840.10008.5.1.4.1.1.88.", StringComparison.Ordinal)      // structured reports, key objects
        || uid.StartsWith("1.2.840.10008.5.1.4.1.1.11.", StringComparison.Ordinal)   // presentation states
        || uid.StartsWith("1.2.840.10008.5.1.4.1.1.104.", StringComparison.Ordinal)  // encapsulated documents
        || uid.StartsWith("1.2.840.10008.5.1.4.1.1.9.", StringComparison.Ordinal)    // waveforms
        || uid is "1.2.840.10008.5.1.4.1.1.66"                                      // raw data
            or "1.2.840.10008.5.1.4.1.1.4.2"                                         // MR spectroscopy
            or "1.2.840.10008.5.1.4.1.1.481.3"                                       // RT structure set
            or "1.2.840.10008.5.1.4.1.1.481.5"                                       // RT plan
            or "1.2.840.10008.5.1.4.1.1.66.4";                                       // segmentation
}
