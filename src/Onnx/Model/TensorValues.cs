using System.Runtime.InteropServices;
using Onnx;

namespace EdgeMed.Onnx.Model;

/// <summary>The numbers of an initializer, whatever its storage (raw bytes or typed fields), as floats.</summary>
public static class TensorValues
{
    /// <summary>A float, int8, uint8 or int32 tensor's values as floats (integers unscaled); throws for other types.</summary>
    public static float[] Floats(TensorProto tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var raw = tensor.RawData.Span;
        return (TensorElementType)tensor.DataType switch
        {
            TensorElementType.Float => raw.Length > 0 ? MemoryMarshal.Cast<byte, float>(raw).ToArray() : [.. tensor.FloatData],
            TensorElementType.Int8 => raw.Length > 0 ? [.. MemoryMarshal.Cast<byte, sbyte>(raw).ToArray().Select(v => (float)v)] : [.. tensor.Int32Data.Select(v => (float)v)],
            TensorElementType.UInt8 => raw.Length > 0 ? [.. raw.ToArray().Select(v => (float)v)] : [.. tensor.Int32Data.Select(v => (float)v)],
            TensorElementType.Int32 => raw.Length > 0 ? [.. MemoryMarshal.Cast<byte, int>(raw).ToArray().Select(v => (float)v)] : [.. tensor.Int32Data.Select(v => (float)v)],
            var other => throw new OnnxModelFormatException($"initializer {tensor.Name} has element type {other}, not a number type read here"),
        };
    }
}
