namespace EdgeMed.Onnx.Runtime;

/// <summary>
/// Outputs of one run, in memory ONNX Runtime allocated. Spans returned by <see cref="GetSpan{T}(int)"/> point
/// into that memory (no copy) and are valid until this object is disposed.
/// </summary>
public sealed unsafe class OnnxOutputs : IDisposable
{
    private readonly string[] _names;
    private readonly OrtValueHandle[] _values;

    internal OnnxOutputs(string[] names, ReadOnlySpan<nint> values)
    {
        _names = names;
        _values = new OrtValueHandle[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            _values[i] = new OrtValueHandle();
            _values[i].Assign(values[i]);
        }
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
        var (elementType, count, data) = Describe(index);
        if (TensorElementTypes.Of<T>() != elementType)
        {
            throw new InvalidCastException($"Output '{_names[index]}' holds {elementType}, not {typeof(T).Name}.");
        }

        return new ReadOnlySpan<T>((void*)data, checked((int)count));
    }

    /// <summary>The elements of the output named <paramref name="name"/>, read in place.</summary>
    public ReadOnlySpan<T> GetSpan<T>(string name)
        where T : unmanaged => GetSpan<T>(IndexOf(name));

    /// <summary>The shape of output <paramref name="index"/>.</summary>
    public long[] GetShape(int index) => DescribeShape(index).Shape;

    /// <summary>The shape of the output named <paramref name="name"/>.</summary>
    public long[] GetShape(string name) => GetShape(IndexOf(name));

    /// <summary>The element type of output <paramref name="index"/>.</summary>
    public TensorElementType GetElementType(int index) => DescribeShape(index).ElementType;

    /// <summary>Releases the native outputs; spans taken from them become invalid.</summary>
    public void Dispose()
    {
        foreach (var value in _values)
        {
            value.Dispose();
        }
    }

    private int IndexOf(string name)
    {
        var index = Array.IndexOf(_names, name);
        return index >= 0 ? index : throw new KeyNotFoundException($"This result has no output named '{name}'; it has {string.Join(", ", _names)}.");
    }

    private (TensorElementType ElementType, long Count, nint Data) Describe(int index)
    {
        var raw = Value(index);
        nint info;
        OrtNative.Check(OrtNative.GetTensorTypeAndShape(raw, &info));
        try
        {
            int elementType;
            OrtNative.Check(OrtNative.GetTensorElementType(info, &elementType));
            nuint count;
            OrtNative.Check(OrtNative.GetTensorShapeElementCount(info, &count));
            void* data;
            OrtNative.Check(OrtNative.GetTensorMutableData(raw, &data));
            return ((TensorElementType)elementType, (long)count, (nint)data);
        }
        finally
        {
            OrtNative.ReleaseTensorTypeAndShapeInfo(info);
        }
    }

    private (TensorElementType ElementType, long[] Shape) DescribeShape(int index)
    {
        nint info;
        OrtNative.Check(OrtNative.GetTensorTypeAndShape(Value(index), &info));
        try
        {
            var (elementType, shape, _) = OnnxSession.ReadTypeAndShape(info);
            return (elementType, shape);
        }
        finally
        {
            OrtNative.ReleaseTensorTypeAndShapeInfo(info);
        }
    }

    private nint Value(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _values.Length);
        ObjectDisposedException.ThrowIf(_values[index].IsClosed, this);
        return _values[index].DangerousGetHandle();
    }
}
