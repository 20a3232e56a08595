using EdgeMed.Onnx.Model;
using EdgeMed.Onnx.Runtime;
using Google.Protobuf;
using Onnx;

namespace EdgeMed.Quantization.Calibration;

/// <summary>Calibration samples: <see cref="Count"/> model inputs, each written by <see cref="Fill"/> into a buffer of the input's size.</summary>
/// <param name="Count">Number of samples.</param>
/// <param name="Shape">The input shape of one sample, batch 1 (e.g. 1, 3, 224, 224).</param>
/// <param name="Fill">Writes sample i into the span.</param>
public sealed record CalibrationSource(int Count, long[] Shape, Action<int, Span<float>> Fill);

/// <summary>
/// Runs the float model over the calibration samples with the activations to quantize exposed as extra outputs, and
/// feeds them to <see cref="TensorStatistics"/>: one pass for ranges, a second for histograms when the method needs
/// them. Samples are produced one at a time, so memory does not grow with their number.
/// </summary>
public static class CalibrationRunner
{
    /// <summary>Statistics for each of <paramref name="tensors"/>.</summary>
    public static IReadOnlyDictionary<string, TensorStatistics> Collect(ModelProto model, IReadOnlyCollection<string> tensors, CalibrationSource source, CalibrationMethod method, int threads, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(source);
        if (source.Count == 0)
        {
            throw new QuantizationException("The calibration set is empty.");
        }

        var exposed = ModelEdits.ExposeOutputs(model, tensors);

        var names = tensors.ToList();
        var session = OnnxSession.FromBytes(exposed.ToByteArray(), new OnnxSessionOptions { IntraOpThreads = threads });
        using var runner = new BatchRunner(session, source.Shape.AsSpan(1), batchSize: 1, names);
        var statistics = names.ToDictionary(n => n, n => new TensorStatistics(n), StringComparer.Ordinal);
        var passes = method == CalibrationMethod.MinMax ? 1 : 2;
        for (var pass = 0; pass < passes; pass++)
        {
            var histograms = pass == 1;
            runner.RunAll(source.Count, source.Fill, (_, _, outputs) =>
            {
                for (var t = 0; t < names.Count; t++)
                {
                    if (histograms)
                    {
                        statistics[names[t]].ObserveHistogram(outputs.GetSpan<float>(t));
                    }
                    else
                    {
                        statistics[names[t]].ObserveRange(outputs.GetSpan<float>(t));
                    }
                }
            }, cancellationToken);
        }

        return statistics;
    }
}
