using EdgeMed.Onnx.Runtime;
using EdgeMed.DicomIngest.Datasets;

namespace EdgeMed.TrainerHost.Training;

/// <summary>Logits and features of cached samples, computed by ONNX Runtime through our binding.</summary>
/// <param name="Logits">N × classes.</param>
/// <param name="Features">N × feature width.</param>
/// <param name="FeatureWidth">Width of one feature vector.</param>
internal sealed record ModelOutputs(float[] Logits, float[] Features, int FeatureWidth);

/// <summary>Runs an exported model over samples of a <see cref="TensorCache"/>, replicating the cached single channel.</summary>
internal static class OnnxEvaluator
{
    public static ModelOutputs Run(string modelPath, TensorCache cache, IReadOnlyList<int> indices, int channels, int classes, int threads, CancellationToken cancellationToken)
    {
        using var session = OnnxSession.Open(modelPath, new OnnxSessionOptions { IntraOpThreads = threads });
        var inputName = session.Inputs[0].Name;
        var size = cache.Size;
        var plane = size * size;
        const int Batch = 8;
        var logits = new float[indices.Count * classes];
        float[]? features = null;
        var featureWidth = 0;
        for (var start = 0; start < indices.Count; start += Batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(Batch, indices.Count - start);
            var input = new float[count * channels * plane];
            for (var b = 0; b < count; b++)
            {
                cache.ReadAsInput(indices[start + b], channels, input.AsSpan(b * channels * plane, channels * plane));
            }

            using var tensor = OnnxTensor.Create(input, count, channels, size, size);
            using var outputs = session.Run([new NamedTensor(inputName, tensor)], ["logits", "features"], cancellationToken);
            outputs.GetSpan<float>(0).CopyTo(logits.AsSpan(start * classes, count * classes));
            var f = outputs.GetSpan<float>(1);
            if (features is null)
            {
                featureWidth = f.Length / count;
                features = new float[indices.Count * featureWidth];
            }

            f.CopyTo(features.AsSpan(start * featureWidth));
        }

        return new ModelOutputs(logits, features ?? [], featureWidth);
    }
}
