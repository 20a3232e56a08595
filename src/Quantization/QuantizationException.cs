namespace EdgeMed.Quantization;

/// <summary>Quantization cannot proceed; the message says why. Nothing was written.</summary>
public sealed class QuantizationException(string message) : Exception(message);
