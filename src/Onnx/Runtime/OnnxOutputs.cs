using Microsoft.ML.OnnxRuntime;

namespace EdgeMed.Onnx.Runtime;

/// <summary>
/// Outputs of one run, in memory ONNX Runtime allocated. Spans returned by <see cref="GetSpan{T}(int)"/> point
/// into that memory (no copy) and are valid until this object is disposed.
/// </summary>
public sealed class OnnxOutputs : IDisposable
{
    private readonly string[] _names;
    private readonly IDisposableReadOnlyCollection<OrtValue> _owner;
    private readonly OrtValue[] _values;
    private bool _disposed;

    internal OnnxOutputs(string[] names, IDisposableReadOnlyCollection<OrtValue> values)
    {
        _names = names;
        _owner = values;
        _values = [.. values];
    }

    /// <summary>Number of outputs.</summary>
    public int Count => _values.Length;

    /// <summary>Output names, in the order of this result.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>The elements of output <paramref name="index"/>, read in place.</summary>
    /// <exception cref="InvalidCastException"><typeparamref name="T"/> is not the output's element type.</exception>
    public ReadOnlySpan<T> GetSpan<T>(int index)
        where T : unmanaged
    {
        var value = Value(index);
        var elementType = GetElementType(index);
        if (TensorElementTypes.Of<T>() != elementType)
        {
            throw new InvalidCastException($"Output '{_names[index]}' holds {elementType}, not {typeof(T).Name}.");
        }

        return value.GetTensorDataAsSpan<T>();
    }

    /// <summary>The elements of the output named <paramref name="name"/>, read in place.</summary>
    public ReadOnlySpan<T> GetSpan<T>(string name)
        where T : unmanaged => GetSpan<T>(IndexOf(name));

    /// <summary>The shape of output <paramref name="index"/>.</summary>
    public long[] GetShape(int index) => Value(index).GetTensorTypeAndShape().Shape;

    /// <summary>The shape of the output named <paramref name="name"/>.</summary>
    public long[] GetShape(string name) => GetShape(IndexOf(name));

    /// <summary>The element type of output <paramref name="index"/>.</summary>
    public TensorElementType GetElementType(int index) => (TensorElementType)(int)Value(index).GetTensorTypeAndShape().ElementDataType;

    /// <summary>Releases the native outputs; spans taken from them become invalid.</summary>
    public void Dispose()
    {
        _disposed = true;
        _owner.Dispose();
    }

    private int IndexOf(string name)
    {
        var index = Array.IndexOf(_names, name);
        return index >= 0 ? index : throw new KeyNotFoundException($"This result has no output named '{name}'; it has {string.Join(", ", _names)}.");
    }

    private OrtValue Value(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _values.Length);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _values[index];
    }
}
