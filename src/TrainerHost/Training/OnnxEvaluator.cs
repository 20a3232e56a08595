using EdgeMed.DicomIngest.Datasets;
using EdgeMed.Onnx.Runtime;

namespace EdgeMed.TrainerHost.Training;

/// <summary>Logits and features of cached samples, computed by ONNX Runtime.</summary>
/// <param name="Logits">N × classes.</param>
/// <param name="Features">N × feature width.</param>
/// <param name="FeatureWidth">Width of one feature vector.</param>
internal sealed record ModelOutputs(float[] Logits, float[] Features, int FeatureWidth);

/// <summary>Runs an exported model over samples of a <see cref="TensorCache"/>, replicating the cached single channel.</summary>
internal static class OnnxEvaluator
{
    /// <summary>Logits and features of the cached samples at <paramref name="indices"/>; <paramref name="outputs"/> names them, in that order (a package manifest's <c>outputs</c>).</summary>
    public static ModelOutputs Run(string modelPath, IReadOnlyList<string> outputs, TensorCache cache, IReadOnlyList<int> indices, int channels, int classes, int threads, CancellationToken cancellationToken)
    {
        var session = OnnxSession.Open(modelPath, new OnnxSessionOptions { IntraOpThreads = threads });
        using var runner = new BatchRunner(session, [channels, cache.Size, cache.Size], batchSize: 8, outputs);
        var logits = new float[indices.Count * classes];
        float[]? features = null;
        var featureWidth = 0;
        runner.RunAll(indices.Count, (i, slot) => cache.ReadAsInput(indices[i], channels, slot), (start, count, result) =>
        {
            result.GetSpan<float>(0).CopyTo(logits.AsSpan(start * classes, count * classes));
            var f = result.GetSpan<float>(1);
            if (features is null)
            {
                featureWidth = f.Length / count;
                features = new float[indices.Count * featureWidth];
            }

            f.CopyTo(features.AsSpan(start * featureWidth));
        }, cancellationToken);

        return new ModelOutputs(logits, features ?? [], featureWidth);
    }
}
