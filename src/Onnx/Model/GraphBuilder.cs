using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace EdgeMed.Onnx.Model;

/// <summary>
/// Builds small ONNX models in code: inputs, initializers, nodes, outputs. Tests use it to make models on the fly;
/// the quantizer uses its attribute and initializer helpers when it rewrites graphs.
/// </summary>
/// <remarks>A negative dimension in a shape is dynamic: it becomes a named <c>dim_param</c>.</remarks>
public sealed class GraphBuilder
{
    private readonly GraphProto _graph;
    private readonly long _opset;
    private readonly long _irVersion;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _nodeCount;

    /// <summary>Starts a graph named <paramref name="name"/> for the default ONNX domain at <paramref name="opset"/>.</summary>
    public GraphBuilder(string name, long opset = 17, long irVersion = 8)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        _graph = new GraphProto { Name = name };
        _opset = opset;
        _irVersion = irVersion;
    }

    /// <summary>Declares a graph input and returns its name.</summary>
    public string Input(string name, TensorElementType type, params long[] shape)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, type, shape));
        return name;
    }

    /// <summary>Declares a graph output (an existing value) with its type and, optionally, its shape.</summary>
    public void Output(string name, TensorElementType type, params long[]? shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        _graph.Output.Add(ValueInfo(name, type, shape));
    }

    /// <summary>Adds a float initializer (a constant weight) and returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, params long[] dims) =>
        AddInitializer(Tensor(name, values, dims));

    /// <summary>Adds an int64 initializer and returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<long> values, params long[] dims) =>
        AddInitializer(Tensor(name, values, dims));

    /// <summary>Adds an int8 initializer and returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<sbyte> values, params long[] dims) =>
        AddInitializer(Tensor(name, values, dims));

    /// <summary>Adds a uint8 initializer and returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<byte> values, params long[] dims) =>
        AddInitializer(Tensor(name, values, dims));

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Node(string opType, IReadOnlyList<string> inputs, params AttributeProto[] attributes) =>
        Node(opType, inputs, 1, attributes)[0];

    /// <summary>Adds a node with <paramref name="outputCount"/> generated output names and returns them.</summary>
    public IReadOnlyList<string> Node(string opType, IReadOnlyList<string> inputs, int outputCount, params AttributeProto[] attributes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(outputCount, 1);
        var prefix = $"{opType}_{_nodeCount}";
        var outputs = new string[outputCount];
        for (var i = 0; i < outputCount; i++)
        {
            outputs[i] = outputCount == 1 ? $"{prefix}_out" : $"{prefix}_out{i}";
        }

        return NamedNode(opType, inputs, outputs, attributes);
    }

    /// <summary>Adds a node whose outputs get the given names (for graph outputs with chosen names) and returns them.</summary>
    public IReadOnlyList<string> NamedNode(string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, params AttributeProto[] attributes)
    {
        ArgumentException.ThrowIfNullOrEmpty(opType);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        foreach (var output in outputs)
        {
            Claim(output);
        }

        var node = new NodeProto { OpType = opType, Name = $"{opType}_{_nodeCount++}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return outputs;
    }

    /// <summary>Returns the model; the builder should not be used afterwards.</summary>
    public ModelProto Build()
    {
        var model = new ModelProto
        {
            IrVersion = _irVersion,
            ProducerName = "EdgeMed.Onnx.GraphBuilder",
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = _opset });
        return model;
    }

    /// <summary>Makes a tensor proto from values (stored as raw little-endian bytes, as ONNX expects).</summary>
    public static TensorProto Tensor<T>(string name, ReadOnlySpan<T> values, params long[] dims)
        where T : unmanaged
    {
        var type = TensorElementTypes.Of<T>();
        if (type == TensorElementType.Undefined)
        {
            throw new ArgumentException($"Element type {typeof(T).Name} cannot be stored in an ONNX tensor by this builder.", nameof(values));
        }

        long count = 1;
        foreach (var d in dims)
        {
            count *= d;
        }

        if (count != values.Length)
        {
            throw new ArgumentException($"Tensor '{name}' has {values.Length} values but its dims [{string.Join(',', dims)}] need {count}.", nameof(values));
        }

        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    /// <summary>An integer attribute.</summary>
    public static AttributeProto Attribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A float attribute.</summary>
    public static AttributeProto Attribute(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>A string attribute.</summary>
    public static AttributeProto Attribute(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>A list-of-integers attribute.</summary>
    public static AttributeProto Attribute(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    private string AddInitializer(TensorProto tensor)
    {
        Claim(tensor.Name);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    private void Claim(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!_names.Add(name))
        {
            throw new ArgumentException($"The graph already has a value named '{name}'.", nameof(name));
        }
    }

    private static ValueInfoProto ValueInfo(string name, TensorElementType type, long[]? shape)
    {
        var tensorType = new TypeProto.Types.Tensor { ElemType = (int)type };
        if (shape is not null)
        {
            tensorType.Shape = new TensorShapeProto();
            for (var axis = 0; axis < shape.Length; axis++)
            {
                tensorType.Shape.Dim.Add(shape[axis] < 0
                    ? new TensorShapeProto.Types.Dimension { DimParam = $"{name}_d{axis}" }
                    : new TensorShapeProto.Types.Dimension { DimValue = shape[axis] });
            }
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } };
    }
}
