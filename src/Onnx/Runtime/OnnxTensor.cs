using Microsoft.ML.OnnxRuntime;

namespace EdgeMed.Onnx.Runtime;

/// <summary>
/// A tensor over managed memory that ONNX Runtime reads and writes in place: the memory is pinned and wrapped in an
/// <c>OrtValue</c> once, so running a session on it copies nothing. Reuse one across runs by writing into
/// <see cref="Span{T}"/> from <see cref="AsSpan{T}"/>; dispose it to unpin.
/// </summary>
public sealed class OnnxTensor : IDisposable
{
    private readonly long[] _shape;
    private readonly OrtLease<OrtValue> _value;

    // The Memory<T> itself (boxed): spans handed out reference the array, so the GC keeps it alive while they are used.
    private readonly object _memory;

    private OnnxTensor(OrtValue value, object memory, TensorElementType elementType, long[] shape, long elementCount)
    {
        _value = new OrtLease<OrtValue>(value);
        _memory = memory;
        _shape = shape;
        ElementType = elementType;
        ElementCount = elementCount;
    }

    /// <summary>The element type.</summary>
    public TensorElementType ElementType { get; }

    /// <summary>The shape (a copy is not made; do not change it).</summary>
    public ReadOnlySpan<long> Shape => _shape;

    /// <summary>Number of elements (the product of <see cref="Shape"/>).</summary>
    public long ElementCount { get; }

    internal OrtLease<OrtValue> Lease => _value;

    /// <summary>Wraps <paramref name="data"/> with <paramref name="shape"/>; the memory stays pinned until disposal.</summary>
    /// <exception cref="ArgumentException">Unsupported element type, a negative dimension, or a length that does not match the shape.</exception>
    public static OnnxTensor Create<T>(Memory<T> data, params ReadOnlySpan<long> shape)
        where T : unmanaged
    {
        var elementType = TensorElementTypes.Of<T>();
        if (elementType is not (TensorElementType.Float or TensorElementType.UInt8 or TensorElementType.Int8 or TensorElementType.Int64 or TensorElementType.Int32 or TensorElementType.Double))
        {
            throw new ArgumentException($"Element type {typeof(T).Name} is not supported; use float, byte, sbyte, int, long or double.", nameof(data));
        }

        long count = 1;
        foreach (var dim in shape)
        {
            if (dim < 0)
            {
                throw new ArgumentException($"Shape [{string.Join(',', shape.ToArray())}] has a negative dimension.", nameof(shape));
            }

            count *= dim;
        }

        if (count != data.Length)
        {
            throw new ArgumentException($"Shape [{string.Join(',', shape.ToArray())}] needs {count} elements but the buffer has {data.Length}.", nameof(data));
        }

        OrtEnvironment.EnsureCreated();
        var shapeCopy = shape.ToArray();
        OrtValue value;
        try
        {
            // Pins the memory until the value is disposed.
            value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, data, shapeCopy);
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException e)
        {
            throw OnnxRuntimeException.From(e);
        }

        return new OnnxTensor(value, data, elementType, shapeCopy, count);
    }

    /// <summary>Wraps an array; see <see cref="Create{T}(Memory{T}, ReadOnlySpan{long})"/>.</summary>
    public static OnnxTensor Create<T>(T[] data, params ReadOnlySpan<long> shape)
        where T : unmanaged => Create(data.AsMemory(), shape);

    /// <summary>The tensor's memory, for writing the next input or reading an output bound to it.</summary>
    /// <exception cref="InvalidCastException"><typeparamref name="T"/> is not the element type.</exception>
    public Span<T> AsSpan<T>()
        where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_value.IsClosed, this);
        if (TensorElementTypes.Of<T>() != ElementType)
        {
            throw new InvalidCastException($"Tensor holds {ElementType}, not {typeof(T).Name}.");
        }

        return ((Memory<T>)_memory).Span;
    }

    /// <summary>Releases the native value and unpins the memory (after any run still using it finishes).</summary>
    public void Dispose() => _value.Dispose();
}

/// <summary>A tensor bound to a model input or output name.</summary>
/// <param name="Name">The model's input or output name.</param>
/// <param name="Tensor">The tensor.</param>
public readonly record struct NamedTensor(string Name, OnnxTensor Tensor);

/// <summary>Name, element type and shape of a model input or output.</summary>
/// <param name="Name">The value's name in the graph.</param>
/// <param name="ElementType">Element type; <see cref="TensorElementType.Undefined"/> for a non-tensor value.</param>
/// <param name="Shape">Dimensions; -1 where the dimension is dynamic.</param>
/// <param name="SymbolicDimensions">The symbolic name of each dimension, empty where it has none.</param>
public sealed record OnnxValueInfo(string Name, TensorElementType ElementType, IReadOnlyList<long> Shape, IReadOnlyList<string> SymbolicDimensions)
{
    /// <summary>Whether <paramref name="shape"/> fits: same rank, and equal wherever this info fixes a dimension.</summary>
    public bool Accepts(ReadOnlySpan<long> shape)
    {
        if (shape.Length != Shape.Count)
        {
            return false;
        }

        for (var i = 0; i < shape.Length; i++)
        {
            if (Shape[i] >= 0 && Shape[i] != shape[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"{Name}: {ElementType}[{string.Join(',', Shape.Select((d, i) => d >= 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : SymbolicDimensions[i] is { Length: > 0 } s ? s : "?"))}]";
}
