using System.Text.Json;
using EdgeMed.DicomIngest.Normalization;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Explain;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Operations;
using EdgeMed.Onnx.Model;
using EdgeMed.Onnx.Runtime;
using EdgeMed.Packages;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMed.EdgeAgent.Models;

/// <summary>
/// The models folder: the newest package (by manifest creation time) that passes every check is loaded; a newer one
/// dropped in later is validated, warmed up and swapped in while series keep flowing. A package that fails a check is
/// refused, recorded by content hash and not tried again, across restarts, until its files change; one that the agent
/// died loading three times in one boot is refused likewise. The model in use stays.
/// Clocks are not trusted: a creation time more than a day ahead of this machine's clock ranks by when the package
/// was first seen here instead, and files dated in the future are not taken for a copy in progress.
/// </summary>
public sealed class ModelCatalog : IDisposable
{
    /// <summary>Deaths of the agent while loading one package, in one boot, before the package is refused.</summary>
    internal const int LoadDeathsBeforeRefusal = 3;

    private static readonly TimeSpan ClockTolerance = TimeSpan.FromDays(1);
    private static readonly TimeSpan CopySettle = TimeSpan.FromSeconds(2);
    private readonly Dictionary<string, string> _hashes = new(StringComparer.Ordinal);
    private DateTimeOffset _currentRank;
    private readonly string _folder;
    private readonly AgentOptions _options;
    private readonly AgentDatabase _database;
    private readonly AgentHealth _health;
    private readonly ILogger _logger;
    private readonly Dictionary<string, string> _refused = new(StringComparer.Ordinal);
    private LoadedModel? _current;
    private string? _currentFingerprint;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _missingLogged;

    /// <summary>Creates the catalog; nothing is loaded until <see cref="Scan"/>.</summary>
    public ModelCatalog(string folder, AgentOptions options, AgentDatabase database, AgentHealth health, ILogger logger)
    {
        _folder = Path.GetFullPath(folder);
        _options = options;
        _database = database;
        _health = health;
        _logger = logger;
    }

    /// <summary>The model in use, if any.</summary>
    public LoadedModel? Current => Volatile.Read(ref _current);

    /// <summary>Checks the folder every <see cref="AgentOptions.ModelScanInterval"/> until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.ModelScanInterval);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            Scan();
        }
    }

    /// <summary>Waits for a model and holds it for one series.</summary>
    public async ValueTask<ModelLease> AcquireAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = Volatile.Read(ref _changed).Task;
            var model = Current;
            if (model is not null && model.TryAddReference())
            {
                return new ModelLease(model);
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One look at the folder: loads the newest acceptable package if it is newer than the one in use. Returns whether a model was loaded.</summary>
    public bool Scan()
    {
        var now = DateTimeOffset.UtcNow;
        var packages = FindPackages(now).Select(p => (p.Folder, p.Fingerprint, Rank: Rank(p.Folder, p.Created, p.Fingerprint, now))).ToList();
        var current = Current;
        foreach (var (folder, fingerprint, rank) in packages.OrderByDescending(p => p.Rank).ThenByDescending(p => p.Folder, StringComparer.Ordinal))
        {
            if (current is not null && (rank <= _currentRank || (folder == current.Package.Folder && fingerprint == _currentFingerprint)))
            {
                return false; // the one in use is the newest
            }

            if (_refused.TryGetValue(folder, out var refused) && refused == fingerprint)
            {
                continue;
            }

            var hash = HashOf(folder, fingerprint);
            switch (_database.Models.Find(hash, folder))
            {
                case { State: ModelStates.Refused } remembered:
                    Refuse(folder, fingerprint, hash, remembered.Reason ?? "refused before", ModelStates.Refused, current);
                    continue;
            }

            // Committed before the load: a death during it is counted. One death proves nothing (a power cut, a
            // restart during start-up); several in one boot point at the package.
            var deaths = _database.Models.BeginLoad(hash, folder, MachineBoot.Id);
            if (deaths >= LoadDeathsBeforeRefusal)
            {
                Refuse(folder, fingerprint, hash, $"the agent died {deaths} times loading it (a native fault, the out-of-memory killer or the watchdog); not tried again until its files change", ModelStates.Refused, current);
                continue;
            }

            try
            {
                var model = Load(folder, _options, _logger);
                Swap(model, fingerprint, rank);
                return true;
            }
            catch (Exception e) when (e is ModelPackageException or NotForThisDeviceException or OnnxRuntimeException or ArgumentException or IOException or JsonException or UnauthorizedAccessException)
            {
                Refuse(folder, fingerprint, hash, e.Message, e is NotForThisDeviceException ? ModelStates.NotForThisDevice : ModelStates.Refused, current);
            }
        }

        return false;
    }

    private void Refuse(string folder, string fingerprint, string hash, string reason, string state, LoadedModel? current)
    {
        _refused[folder] = fingerprint;
        var name = Path.GetFileName(folder);
        Log.ModelRefused(_logger, name, reason, current is null ? "none" : current.Identity.Name);
        _database.Models.Record(hash, folder, null, null, null, null, null, null, state, reason);
        _database.Status.Set(StatusKeys.LastError, $"model package {name} refused: {reason}");
    }

    /// <summary>
    /// Where a package ranks: its creation time, unless that lies more than a day ahead of this machine's clock (a
    /// trainer with a wrong clock, or a device without a real-time clock), then when it was first seen here.
    /// </summary>
    private DateTimeOffset Rank(string folder, DateTimeOffset created, string fingerprint, DateTimeOffset now)
    {
        if (created <= now + ClockTolerance)
        {
            return created;
        }

        var known = _database.Models.Find(HashOf(folder, fingerprint), folder);
        return known is null ? now : DateTimeOffset.Parse(known.FirstSeen, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The SHA-256 of the package's model file, hashed once per version of its files.</summary>
    private string HashOf(string folder, string fingerprint)
    {
        var key = folder + "\0" + fingerprint;
        if (!_hashes.TryGetValue(key, out var hash))
        {
            hash = TryModelHash(folder);
            _hashes[key] = hash;
        }

        return hash;
    }

    /// <summary>Validates and warms up one package. Throws with the reason when it does not pass.</summary>
    public static LoadedModel Load(string folder, AgentOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var package = ModelPackage.Load(folder, NormalizationSettings.AlgorithmVersion);
        var m = package.Manifest;
        if (m.Classes.Count < 2 || m.Classes.Any(string.IsNullOrWhiteSpace) || m.Classes.Distinct(StringComparer.Ordinal).Count() != m.Classes.Count)
        {
            throw new ModelPackageException($"class list [{string.Join(", ", m.Classes)}] must name at least two distinct classes");
        }

        if (options.ExpectedClasses.Count > 0 && !options.ExpectedClasses.SequenceEqual(m.Classes, StringComparer.Ordinal))
        {
            throw new NotForThisDeviceException($"classes [{string.Join(", ", m.Classes)}] differ from EdgeMed:ExpectedClasses [{string.Join(", ", options.ExpectedClasses)}]");
        }

        if (options.Precision.Length > 0 && !string.Equals(m.Precision, options.Precision, StringComparison.Ordinal))
        {
            throw new NotForThisDeviceException($"precision {m.Precision}; this device takes {options.Precision} packages (EdgeMed:Precision)");
        }

        m.Input.Normalization.Validate();
        // Heatmaps need the last stage's feature map as an output too: the graph is edited in memory, never on disk.
        var graph = options.HeatmapSlices > 0 ? ReadGraph(package.ModelPath) : null;
        var explainer = graph is null ? null : GradCam.For(graph) is { } found && found.Classes == m.Classes.Count ? found : null;
        if (graph is not null && explainer is null)
        {
            Log.NoHeatmaps(logger ?? NullLogger.Instance, m.Name, m.Arch);
        }

        byte[]? bytes = null;
        if (explainer is not null)
        {
            ModelEdits.AddOutputs(graph!, [explainer.FeatureMap]); // the graph was read for this: edited in place, its weights not copied
            bytes = graph!.ToByteArray();
        }

        graph = null;
        var (session, provider) = OpenSession(o => bytes is null ? OnnxSession.Open(package.ModelPath, o) : OnnxSession.FromBytes(bytes, o), options, logger ?? NullLogger.Instance);
        try
        {
            var shape = new long[] { options.BatchSize, m.Input.Channels, m.Input.Size, m.Input.Size };
            if (session.Inputs.Count != 1 || !session.Inputs[0].Accepts(shape))
            {
                throw new ModelPackageException($"model input {string.Join("; ", session.Inputs)} does not take a batch of [{string.Join(", ", shape)}]");
            }

            if (!session.Outputs.Any(o => o.Name == "logits"))
            {
                throw new ModelPackageException($"model has no 'logits' output (outputs: {string.Join(", ", session.Outputs.Select(o => o.Name))})");
            }

            var model = new LoadedModel(package, session, options.BatchSize, provider, explainer);
            var logits = model.Run(options.BatchSize, CancellationToken.None); // warm-up: the first run allocates and plans
            if (logits.Length != options.BatchSize * m.Classes.Count || !LoadedModel.AllFinite(logits))
            {
                throw new ModelPackageException($"warm-up gave {logits.Length} logits for {options.BatchSize} × {m.Classes.Count} classes, or non-finite values");
            }

            return model;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>The package's graph for the heatmaps, or null when it does not parse (ONNX Runtime then says why it refuses it).</summary>
    private static global::Onnx.ModelProto? ReadGraph(string path)
    {
        try
        {
            return OnnxModelFile.Load(path);
        }
        catch (OnnxModelFormatException)
        {
            return null;
        }
    }

    /// <summary>A session on the configured provider; a GPU provider this ONNX Runtime build lacks falls back to the CPU.</summary>
    private static (OnnxSession Session, ExecutionProvider Provider) OpenSession(Func<OnnxSessionOptions, OnnxSession> open, AgentOptions options, ILogger logger)
    {
        OnnxSessionOptions With(ExecutionProvider provider) => new()
        {
            IntraOpThreads = options.IntraOpThreads,
            AllowSpinning = options.AllowSpinning,
            UseMemoryArena = options.UseMemoryArena,
            PrepackWeights = options.PrepackWeights,
            Provider = provider,
            ProfilePrefix = options.OnnxProfilePrefix,
            OptimizedModelPath = options.OnnxOptimizedModelPath,
        };

        try
        {
            return (open(With(options.ExecutionProvider)), options.ExecutionProvider);
        }
        catch (ExecutionProviderUnavailableException e) when (options.ExecutionProvider != ExecutionProvider.Cpu)
        {
            Log.ProviderFallback(logger, options.ExecutionProvider, e.Message);
            return (open(With(ExecutionProvider.Cpu)), ExecutionProvider.Cpu);
        }
    }

    private void Swap(LoadedModel model, string fingerprint, DateTimeOffset rank)
    {
        var previous = Interlocked.Exchange(ref _current, model);
        _currentFingerprint = fingerprint;
        _currentRank = rank;
        _health.ModelLoaded = true;
        var id = model.Identity;
        _database.Models.Record(id.Sha256, model.Package.Folder, id.Name, id.Version, model.Package.Manifest.Arch, model.Package.Manifest.Precision, model.Classes, id.PreprocessingVersion, ModelStates.Loaded, null);
        _database.Status.Set(StatusKeys.Model, $"{id.Name} {id.Version} ({model.Package.Manifest.Precision}, sha256 {id.Sha256[..12]})");
        if (previous is null)
        {
            Log.ModelLoaded(_logger, id.Name, id.Version, id.Sha256[..12], model.Package.Manifest.Precision, model.Classes.Count, model.Provider);
        }
        else
        {
            Log.ModelSwapped(_logger, previous.Identity.Name, previous.Identity.Version, id.Name, id.Version, id.Sha256[..12]);
            previous.Release(); // closes once series in flight with it are stored
        }

        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    private List<(string Folder, DateTimeOffset Created, string Fingerprint)> FindPackages(DateTimeOffset now)
    {
        var found = new List<(string, DateTimeOffset, string)>();
        if (!Directory.Exists(_folder))
        {
            if (!_missingLogged)
            {
                _missingLogged = true;
                Log.ModelsFolderMissing(_logger, _folder);
            }

            return found;
        }

        _missingLogged = false;
        var folders = File.Exists(Path.Combine(_folder, ModelPackage.ManifestFile)) ? [_folder] : Directory.GetDirectories(_folder);
        foreach (var folder in folders)
        {
            var manifest = Path.Combine(folder, ModelPackage.ManifestFile);
            if (Path.GetFileName(folder).StartsWith('.') || !File.Exists(manifest))
            {
                continue;
            }

            try
            {
                var files = new DirectoryInfo(folder).GetFiles();
                // A package still being copied in is left for a later scan: its newest file was written just now. One
                // dated further in the future had its times kept from a machine whose clock is ahead (cp -p, rsync -t
                // set them after the copy), and is complete.
                var newest = files.Max(f => new DateTimeOffset(f.LastWriteTimeUtc));
                if (newest > now - CopySettle && newest < now + CopySettle)
                {
                    continue;
                }

                var fingerprint = string.Join('|', files.OrderBy(f => f.Name, StringComparer.Ordinal).Select(f => $"{f.Name}:{f.Length}:{f.LastWriteTimeUtc.Ticks}"));
                var created = JsonSerializer.Deserialize<PackageManifest>(File.ReadAllText(manifest), ModelPackage.Json)?.CreatedAt ?? DateTimeOffset.MinValue;
                found.Add((folder, created, fingerprint));
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
            {
                // An unreadable manifest sorts last and is refused with its message when its turn comes.
                found.Add((folder, DateTimeOffset.MinValue, e.Message));
            }
        }

        return found;
    }

    private static string TryModelHash(string folder)
    {
        try
        {
            var model = Path.Combine(folder, ModelPackage.ModelFile);
            return File.Exists(model) ? ModelPackage.Sha256(model) : "-";
        }
        catch (IOException)
        {
            return "-";
        }
    }

    /// <summary>Releases the model in use.</summary>
    public void Dispose() => Interlocked.Exchange(ref _current, null)?.Release();
}

/// <summary>A sound package that this device's settings do not take (EdgeMed:Precision, EdgeMed:ExpectedClasses).</summary>
public sealed class NotForThisDeviceException(string message) : Exception(message);
