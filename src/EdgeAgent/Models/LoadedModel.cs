using System.Globalization;
using EdgeMed.DicomIngest.Normalization;
using EdgeMed.EdgeAgent.Explain;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.Packages;
using EdgeMed.Onnx.Runtime;

namespace EdgeMed.EdgeAgent.Models;

/// <summary>
/// A validated, warmed-up model package with its session and the normalizer its preprocessing asks for. Reference
/// counted: a swap releases the catalog's reference and the session closes when the last series using it is stored.
/// Used by one inference stage at a time (its input buffer is not shared).
/// </summary>
public sealed class LoadedModel
{
    private int _references = 1;

    internal LoadedModel(ModelPackage package, OnnxSession session, int batchSize, ExecutionProvider provider, GradCam? explainer = null)
    {
        Explainer = explainer;
        Package = package;
        Provider = provider;
        var m = package.Manifest;
        Classes = m.Classes;
        Settings = m.Input.Normalization;
        Normalizer = new SliceNormalizer(Settings);
        Runner = new BatchRunner(session, [Settings.Channels, Settings.Size, Settings.Size], batchSize, [m.Outputs[0]]);
        Identity = new ModelIdentity(m.Name, m.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture), package.ModelSha256, m.Input.PreprocessingVersion);
    }

    /// <summary>Where its inference runs (the CPU when a configured GPU provider was unavailable).</summary>
    public ExecutionProvider Provider { get; }

    /// <summary>The package.</summary>
    public ModelPackage Package { get; }

    /// <summary>Name, version, SHA-256 and preprocessing version, as stored with every result.</summary>
    public ModelIdentity Identity { get; }

    /// <summary>Class names, in output order.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>The preprocessing the package was trained with.</summary>
    public NormalizationSettings Settings { get; }

    /// <summary>Normalizes one slice into the model's input layout.</summary>
    public SliceNormalizer Normalizer { get; }

    /// <summary>The session with its batch buffer; fetches the manifest's logits output only.</summary>
    internal BatchRunner Runner { get; }

    /// <summary>The class activation maps of this model (its session also outputs the feature map), or null.</summary>
    internal GradCam? Explainer { get; }

    /// <summary>
    /// Runs the first <paramref name="count"/> samples fetching the logits and the feature map; returns them with
    /// the map's height and width (per sample: <see cref="GradCam.Channels"/> × height × width values).
    /// </summary>
    internal (float[] Logits, float[] FeatureMaps, int Height, int Width) RunExplained(int count, CancellationToken cancellationToken)
    {
        var explainer = Explainer ?? throw new InvalidOperationException("this model has no class activation maps");
        using var outputs = Runner.Run(count, [Runner.Outputs[0], explainer.FeatureMap], cancellationToken);
        var shape = outputs.GetShape(1);
        if (shape.Length != 4 || shape[0] != count || shape[1] != explainer.Channels)
        {
            throw new InvalidDataException($"the feature map has shape [{string.Join(", ", shape)}], not [{count}, {explainer.Channels}, H, W]");
        }

        return (outputs.GetSpan<float>(0).ToArray(), outputs.GetSpan<float>(1).ToArray(), (int)shape[2], (int)shape[3]);
    }

    /// <summary>Slices per run.</summary>
    public int BatchSize => Runner.BatchSize;

    /// <summary>Whether every score is a finite number (the warm-up and every batch check it).</summary>
    internal static bool AllFinite(ReadOnlySpan<float> scores)
    {
        foreach (var v in scores)
        {
            if (!float.IsFinite(v))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Runs <paramref name="count"/> slices already normalized into the runner's slots; returns logits (count × classes).</summary>
    internal float[] Run(int count, CancellationToken cancellationToken)
    {
        using var outputs = Runner.Run(count, cancellationToken);
        return outputs.GetSpan<float>(0).ToArray();
    }

    internal bool TryAddReference()
    {
        while (true)
        {
            var current = Volatile.Read(ref _references);
            if (current == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _references, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            Runner.Dispose();
        }
    }
}

/// <summary>Use of a <see cref="LoadedModel"/> for one series; disposing it lets a swapped-out model close.</summary>
public sealed class ModelLease : IDisposable
{
    private LoadedModel? _model;

    internal ModelLease(LoadedModel model) => _model = model;

    /// <summary>The model.</summary>
    public LoadedModel Model => _model ?? throw new ObjectDisposedException(nameof(ModelLease));

    /// <summary>Releases the model.</summary>
    public void Dispose() => Interlocked.Exchange(ref _model, null)?.Release();
}
