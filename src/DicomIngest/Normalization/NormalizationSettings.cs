namespace EdgeMed.DicomIngest.Normalization;

/// <summary>
/// How <see cref="SliceNormalizer"/> turns a slice into a model input. A model package records these, so training and
/// serving use the same numbers.
/// </summary>
public sealed record NormalizationSettings
{
    /// <summary>
    /// Version of the normalization algorithm. Changes whenever the same input and settings would give a different
    /// tensor; model packages and tensor caches record it, and a mismatch refuses the package or rebuilds the cache.
    /// </summary>
    public const string AlgorithmVersion = "slice-normalizer/1";

    /// <summary>Output height and width (the model's input size).</summary>
    public int Size { get; init; } = 224;

    /// <summary>Channels written (the slice is replicated); 3 for ImageNet-style backbones, 1 for single-channel models.</summary>
    public int Channels { get; init; } = 3;

    /// <summary>Mean subtracted after scaling to [0, 1].</summary>
    public float Mean { get; init; } = 0.5f;

    /// <summary>Standard deviation divided by after subtracting the mean.</summary>
    public float Std { get; init; } = 0.5f;

    /// <summary>Keep the aspect ratio and pad with black (0 before mean/std) instead of stretching to a square.</summary>
    public bool PreserveAspect { get; init; }

    /// <summary>Use the DICOM VOI window when the slice has one; otherwise (or when false) the percentile window.</summary>
    public bool UseVoiWindow { get; init; } = true;

    /// <summary>Lower percentile of the robust window, computed per slice.</summary>
    public double LowerPercentile { get; init; } = 0.5;

    /// <summary>Upper percentile of the robust window, computed per slice.</summary>
    public double UpperPercentile { get; init; } = 99.5;

    /// <summary>Throws <see cref="ArgumentException"/> for settings that cannot work.</summary>
    public void Validate()
    {
        if (Size is < 8 or > 4096 || Channels is < 1 or > 4 || Std <= 0 || !float.IsFinite(Mean) || !float.IsFinite(Std)
            || LowerPercentile < 0 || UpperPercentile > 100 || LowerPercentile >= UpperPercentile)
        {
            throw new ArgumentException($"Invalid normalization settings: {this}.");
        }
    }
}
