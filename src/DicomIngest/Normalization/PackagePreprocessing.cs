using EdgeMed.Onnx.Packages;

namespace EdgeMed.DicomIngest.Normalization;

/// <summary>
/// The one mapping between a model package's recorded input settings and <see cref="NormalizationSettings"/>: the
/// trainer writes it, evaluation, quantization and serving read it back, so preprocessing cannot drift between them.
/// </summary>
public static class PackagePreprocessing
{
    /// <summary>The normalization a package's model was trained with (channels as the model takes them).</summary>
    public static NormalizationSettings ToNormalizationSettings(this PackageInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new NormalizationSettings
        {
            Size = input.Size, Channels = input.Channels, Mean = input.Mean, Std = input.Std,
            LowerPercentile = input.LowerPercentile, UpperPercentile = input.UpperPercentile,
            UseVoiWindow = input.UseVoiWindow, PreserveAspect = input.PreserveAspect,
        };
    }

    /// <summary>What a package records of <paramref name="settings"/>, for a model taking <paramref name="channels"/> channels.</summary>
    public static PackageInput ToPackageInput(this NormalizationSettings settings, int channels)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new PackageInput
        {
            Size = settings.Size, Channels = channels, Mean = settings.Mean, Std = settings.Std,
            PreprocessingVersion = NormalizationSettings.AlgorithmVersion,
            LowerPercentile = settings.LowerPercentile, UpperPercentile = settings.UpperPercentile,
            UseVoiWindow = settings.UseVoiWindow, PreserveAspect = settings.PreserveAspect,
        };
    }
}
