using EdgeMed.DicomIngest.Normalization;

namespace EdgeMed.Packages;

/// <summary>
/// The one mapping between a model package's input and <see cref="NormalizationSettings"/>: the trainer writes it,
/// evaluation, quantization and serving read it back, so preprocessing cannot drift between them.
/// </summary>
public static class PackagePreprocessing
{
    /// <summary>The normalization a package's model was trained with (channels as the model takes them).</summary>
    public static NormalizationSettings ToNormalizationSettings(this PackageInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input.Normalization;
    }

    /// <summary>What a package records of <paramref name="settings"/>, for a model taking <paramref name="channels"/> channels.</summary>
    public static PackageInput ToPackageInput(this NormalizationSettings settings, int channels)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new PackageInput { PreprocessingVersion = NormalizationSettings.AlgorithmVersion, Normalization = settings with { Channels = channels } };
    }
}
