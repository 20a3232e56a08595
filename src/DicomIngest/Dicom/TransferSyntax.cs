namespace EdgeMed.DicomIngest.Dicom;

/// <summary>Transfer syntaxes the ingest knows, and whether pixel data is encapsulated (compressed).</summary>
internal static class TransferSyntax
{
    public const string ImplicitVrLittleEndian = "1.2.840.10008.1.2";
    public const string ExplicitVrLittleEndian = "1.2.840.10008.1.2.1";
    public const string DeflatedExplicitVrLittleEndian = "1.2.840.10008.1.2.1.99";
    public const string ExplicitVrBigEndian = "1.2.840.10008.1.2.2";

    private static readonly Dictionary<string, string> Supported = new(StringComparer.Ordinal)
    {
        [ImplicitVrLittleEndian] = "implicit-le",
        [ExplicitVrLittleEndian] = "explicit-le",
        [DeflatedExplicitVrLittleEndian] = "deflated",
        [ExplicitVrBigEndian] = "explicit-be",
        ["1.2.840.10008.1.2.5"] = "rle",
        ["1.2.840.10008.1.2.4.50"] = "jpeg-baseline",
        ["1.2.840.10008.1.2.4.51"] = "jpeg-extended",
        ["1.2.840.10008.1.2.4.57"] = "jpeg-lossless",
        ["1.2.840.10008.1.2.4.70"] = "jpeg-lossless-sv1",
        ["1.2.840.10008.1.2.4.80"] = "jpeg-ls-lossless",
        ["1.2.840.10008.1.2.4.81"] = "jpeg-ls-near",
        ["1.2.840.10008.1.2.4.90"] = "jpeg2000-lossless",
        ["1.2.840.10008.1.2.4.91"] = "jpeg2000",
    };

    /// <summary>Whether the pixel decoder handles <paramref name="uid"/>.</summary>
    public static bool IsSupported(string uid) => Supported.ContainsKey(uid);

    /// <summary>A short name for logs and the CLI; the UID itself when unknown.</summary>
    public static string ShortName(string uid) => Supported.GetValueOrDefault(uid, uid);

    /// <summary>Whether the data set itself (not only the pixels) is big endian.</summary>
    public static bool IsBigEndian(string uid) => uid == ExplicitVrBigEndian;

    public static bool IsImplicitVr(string uid) => uid == ImplicitVrLittleEndian;
}
