using Onnx;

namespace EdgeMed.Onnx.Model;

/// <summary>Small edits of ONNX models.</summary>
public static class ModelEdits
{
    /// <summary>
    /// A copy of <paramref name="model"/> that also outputs the intermediate float tensors <paramref name="names"/>
    /// (calibration and per-tensor error need them); names that are outputs already are left as they are.
    /// </summary>
    public static ModelProto ExposeOutputs(ModelProto model, IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(model);
        var copy = model.Clone();
        AddOutputs(copy, names);
        return copy;
    }

    /// <summary>Like <see cref="ExposeOutputs"/>, on <paramref name="model"/> itself (a model read to be edited: no copy of its weights).</summary>
    public static void AddOutputs(ModelProto model, IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(names);
        var existing = model.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in names.Where(existing.Add))
        {
            model.Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorElementType.Float } } });
        }
    }
}
