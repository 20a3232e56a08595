namespace EdgeMed.DicomIngest;

/// <summary>Why a file was refused. Stable names: they are stored in ledgers and printed by the CLI.</summary>
public enum IngestFailure
{
    /// <summary>Not a DICOM file (no DICM prefix and no recognisable data set).</summary>
    NotDicom,

    /// <summary>The file ends inside an element.</summary>
    Truncated,

    /// <summary>A length field contradicts its container or the file.</summary>
    InconsistentLength,

    /// <summary>Sequences nested deeper than the reader allows.</summary>
    NestingTooDeep,

    /// <summary>The data set has no pixel data element.</summary>
    MissingPixelData,

    /// <summary>The transfer syntax is not one the decoder handles.</summary>
    UnsupportedTransferSyntax,

    /// <summary>The image or file is larger than the configured budget.</summary>
    TooLarge,

    /// <summary>The SOP class is not an image (structured report, presentation state, raw data...).</summary>
    NonImageSopClass,

    /// <summary>An image SOP class that is not accepted (e.g. RT dose) or a modality filtered out.</summary>
    UnwantedSopClass,

    /// <summary>Pixel attributes (rows, bits, samples, photometric interpretation) are missing or inconsistent.</summary>
    InvalidPixelAttributes,

    /// <summary>The pixel decoder reported an error for this file.</summary>
    DecodeFailed,

    /// <summary>The pixel decoder process died while decoding this file.</summary>
    DecoderCrashed,

    /// <summary>The pixel decoder did not answer in time and was restarted.</summary>
    DecoderTimeout,

    /// <summary>The file could not be read (permissions, vanished, I/O error).</summary>
    Unreadable,
}

/// <summary>A file could not be ingested; <see cref="Reason"/> says why in a stable code.</summary>
public sealed class DicomIngestException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DicomIngestException(IngestFailure reason, string message, Exception? innerException = null)
        : base(message, innerException) => Reason = reason;

    /// <summary>The reason code.</summary>
    public IngestFailure Reason { get; }

    /// <summary>The reason as printed and stored: kebab-case, e.g. <c>decoder-crashed</c>.</summary>
    public string ReasonCode => ReasonCodes.Of(Reason);
}

/// <summary>Kebab-case names of <see cref="IngestFailure"/> values.</summary>
public static class ReasonCodes
{
    /// <summary>The kebab-case code of <paramref name="reason"/>.</summary>
    public static string Of(IngestFailure reason) => reason switch
    {
        IngestFailure.NotDicom => "not-dicom",
        IngestFailure.Truncated => "truncated",
        IngestFailure.InconsistentLength => "inconsistent-length",
        IngestFailure.NestingTooDeep => "nesting-too-deep",
        IngestFailure.MissingPixelData => "missing-pixel-data",
        IngestFailure.UnsupportedTransferSyntax => "unsupported-transfer-syntax",
        IngestFailure.TooLarge => "too-large",
        IngestFailure.NonImageSopClass => "non-image-sop-class",
        IngestFailure.UnwantedSopClass => "unwanted-sop-class",
        IngestFailure.InvalidPixelAttributes => "invalid-pixel-attributes",
        IngestFailure.DecodeFailed => "decode-failed",
        IngestFailure.DecoderCrashed => "decoder-crashed",
        IngestFailure.DecoderTimeout => "decoder-timeout",
        IngestFailure.Unreadable => "unreadable",
        _ => reason.ToString(),
    };
}
