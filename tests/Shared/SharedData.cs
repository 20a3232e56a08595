namespace EdgeMed.Tests;

/// <summary>
/// The shared data beside the repository (../shared/data: DICOM corpus, Alzheimer MRI slices, MedNIST), present on
/// every machine and in CI. Linked into each test project that reads it. <c>EDGEMED_SHARED_DATA</c> overrides.
/// </summary>
internal static class SharedData
{
    public static string Root { get; } = Find();

    public static string Dicom => Path.Combine(Root, "dicom");

    public static string TransferSyntaxes => Path.Combine(Dicom, "transfer-syntaxes");

    public static string GeSeries => Path.Combine(Dicom, "ge-axial-t1-130");

    public static string Philips => Path.Combine(Dicom, "philips-axial-and-enhanced");

    public static string Alzheimer => Path.Combine(Root, "alzheimer-mri", "train");

    /// <summary>The repository this test build belongs to (the folder above it holding edgemed.sh and deploy/).</summary>
    public static string Repository { get; } = FindRepository();

    public static string[] AllDicomFiles() => [.. Directory.EnumerateFiles(Dicom, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "edgemed.sh")) && Directory.Exists(Path.Combine(dir.FullName, "deploy")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("edgemed.sh was not found above the test folder");
    }

    private static string Find()
    {
        if (Environment.GetEnvironmentVariable("EDGEMED_SHARED_DATA") is { Length: > 0 } configured)
        {
            return configured;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "data");
            if (Directory.Exists(Path.Combine(candidate, "dicom")) && Directory.Exists(Path.Combine(candidate, "alzheimer-mri")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("../shared/data (with dicom/ and alzheimer-mri/) was not found above the test folder; set EDGEMED_SHARED_DATA.");
    }
}
