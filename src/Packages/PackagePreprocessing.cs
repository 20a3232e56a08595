using EdgeMed.DicomIngest.Normalization;

namespace EdgeMed.Packages;

/// <summary>
/// What a package records of the trainer's <see cref="NormalizationSettings"/>; evaluation, quantization and serving
/// read them back as <see cref="PackageInput.Normalization"/>, so preprocessing cannot drift between them.
/// </summary>
public static class PackagePreprocessing
{
    /// <summary>What a package records of <paramref name="settings"/>, for a model taking <paramref name="channels"/> channels.</summary>
    public static PackageInput ToPackageInput(this NormalizationSettings settings, int channels)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new PackageInput { PreprocessingVersion = NormalizationSettings.AlgorithmVersion, Normalization = settings with { Channels = channels } };
    }
}
