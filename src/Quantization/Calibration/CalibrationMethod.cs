namespace EdgeMed.Quantization.Calibration;

/// <summary>How an activation's clipping threshold is chosen from what calibration saw.</summary>
public enum CalibrationMethod
{
    /// <summary>The largest magnitude seen: no clipping, coarsest steps.</summary>
    MinMax,

    /// <summary>A high percentile of the magnitudes (99.99 by default): clips rare outliers.</summary>
    Percentile,

    /// <summary>The threshold whose 128-level quantization loses the least information (KL divergence), as TensorRT does.</summary>
    Entropy,
}
