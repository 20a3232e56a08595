using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using EdgeMed.DicomIngest.Normalization;

namespace EdgeMed.Packages;

/// <summary>What a model expects as input: the tensor's name and the preprocessing it must be given, exactly.</summary>
public sealed record PackageInput
{
    /// <summary>Input tensor name.</summary>
    public string Name { get; init; } = "input";

    /// <summary>Version of the preprocessing algorithm (<see cref="NormalizationSettings.AlgorithmVersion"/> when it was made).</summary>
    public string PreprocessingVersion { get; init; } = string.Empty;

    /// <summary>The normalization the model was trained with, channels as the model takes them.</summary>
    public NormalizationSettings Normalization { get; init; } = new();

    /// <summary>Height and width.</summary>
    [JsonIgnore]
    public int Size => Normalization.Size;

    /// <summary>Channels (the slice replicated).</summary>
    [JsonIgnore]
    public int Channels => Normalization.Channels;
}

/// <summary>The manifest of a model package (<c>manifest.json</c>).</summary>
public sealed record PackageManifest
{
    /// <summary>This build's manifest format: 2 nests the preprocessing under <c>input.normalization</c>; 1 had its fields flat in <c>input</c> and is still read.</summary>
    public const int CurrentFormat = 2;

    /// <summary>Format version of this manifest.</summary>
    public int FormatVersion { get; init; } = CurrentFormat;

    /// <summary>Model name (e.g. the run folder's name).</summary>
    public string Name { get; init; } = string.Empty;

    /// <summary>Architecture (iconvnext-tiny, resnet50...).</summary>
    public string Arch { get; init; } = string.Empty;

    /// <summary>Class names in output order.</summary>
    public IReadOnlyList<string> Classes { get; init; } = [];

    /// <summary>Input settings.</summary>
    public PackageInput Input { get; init; } = new();

    /// <summary>The outputs the trainer's worker exports: logits, then pre-logits features.</summary>
    public static readonly IReadOnlyList<string> DefaultOutputs = ["logits", "features"];

    /// <summary>Output names: logits first, then features.</summary>
    public IReadOnlyList<string> Outputs { get; init; } = DefaultOutputs;

    /// <summary>Precision of the model: fp32 or int8.</summary>
    public string Precision { get; init; } = "fp32";

    /// <summary>Hash of the training data and preprocessing (the tensor cache key).</summary>
    public string? TrainingDataHash { get; init; }

    /// <summary>The split: seed, fractions and counts.</summary>
    public JsonElement? Split { get; init; }

    /// <summary>Headline metrics on the test split.</summary>
    public JsonElement? Metrics { get; init; }

    /// <summary>Quantization settings, for int8 packages.</summary>
    public JsonElement? Quantization { get; init; }

    /// <summary>SHA-256 (hex) of every other file in the package, by file name.</summary>
    public IReadOnlyDictionary<string, string> Files { get; init; } = new Dictionary<string, string>();

    /// <summary>UTC creation time.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>The command line that made it.</summary>
    public string? CommandLine { get; init; }
}

/// <summary>A model package is not usable; the message says what is wrong.</summary>
public sealed class ModelPackageException(string message) : Exception(message);

/// <summary>
/// A model package folder: <c>model.onnx</c> and <c>manifest.json</c> with the SHA-256 of every file. Loading checks the
/// manifest, the class list, the preprocessing version and every hash, so a partial copy or a tampered file is refused.
/// </summary>
public sealed class ModelPackage
{
    /// <summary>File name of the manifest.</summary>
    public const string ManifestFile = "manifest.json";

    /// <summary>File name of the model.</summary>
    public const string ModelFile = "model.onnx";

    /// <summary>JSON settings of manifests (snake_case).</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private ModelPackage(string folder, PackageManifest manifest)
    {
        Folder = folder;
        Manifest = manifest;
    }

    /// <summary>The package folder.</summary>
    public string Folder { get; }

    /// <summary>The manifest.</summary>
    public PackageManifest Manifest { get; }

    /// <summary>Path of the ONNX model.</summary>
    public string ModelPath => Path.Combine(Folder, ModelFile);

    /// <summary>The model's SHA-256, as recorded.</summary>
    public string ModelSha256 => Manifest.Files[ModelFile];

    /// <summary>Loads and verifies a package.</summary>
    /// <param name="folder">The package folder.</param>
    /// <param name="expectedPreprocessingVersion">When given, the package must use this preprocessing version.</param>
    /// <exception cref="ModelPackageException">Anything missing, inconsistent or not matching its hash.</exception>
    public static ModelPackage Load(string folder, string? expectedPreprocessingVersion = null)
    {
        var manifestPath = Path.Combine(folder, ManifestFile);
        if (!File.Exists(manifestPath))
        {
            throw new ModelPackageException($"{folder} is not a model package: {ManifestFile} is missing.");
        }

        PackageManifest manifest;
        try
        {
            manifest = ReadManifest(File.ReadAllText(manifestPath))
                ?? throw new ModelPackageException($"{manifestPath} is empty.");
        }
        catch (JsonException e)
        {
            throw new ModelPackageException($"{manifestPath} is not a valid manifest: {e.Message}");
        }

        if (manifest.FormatVersion > PackageManifest.CurrentFormat)
        {
            throw new ModelPackageException($"{manifestPath} has format {manifest.FormatVersion}, newer than this EdgeMed's {PackageManifest.CurrentFormat}; update EdgeMed to use it.");
        }

        if (manifest.Classes is null || manifest.Input is null || manifest.Files is null || manifest.Files.Values.Any(v => v is null))
        {
            throw new ModelPackageException($"{manifestPath} lacks classes, input settings or file hashes.");
        }

        if (manifest.Classes.Count < 2 || manifest.Classes.Any(string.IsNullOrWhiteSpace) || manifest.Classes.Distinct(StringComparer.Ordinal).Count() != manifest.Classes.Count)
        {
            throw new ModelPackageException($"{manifestPath}: the class list must name at least two distinct classes.");
        }

        if (manifest.Input.Normalization is null || manifest.Input.Size <= 0 || manifest.Input.Channels <= 0 || manifest.Input.Normalization.Std <= 0 || string.IsNullOrEmpty(manifest.Input.PreprocessingVersion))
        {
            throw new ModelPackageException($"{manifestPath}: input settings are incomplete.");
        }

        if (expectedPreprocessingVersion is not null && manifest.Input.PreprocessingVersion != expectedPreprocessingVersion)
        {
            throw new ModelPackageException($"{folder} was made with preprocessing {manifest.Input.PreprocessingVersion}; this program has {expectedPreprocessingVersion}.");
        }

        if (!manifest.Files.ContainsKey(ModelFile))
        {
            throw new ModelPackageException($"{manifestPath} lists no {ModelFile}.");
        }

        foreach (var (name, sha) in manifest.Files)
        {
            if (!IsInsidePackage(name))
            {
                throw new ModelPackageException($"{manifestPath} names a file outside the package: {name}.");
            }

            var path = Path.Combine(folder, name);
            if (!File.Exists(path))
            {
                throw new ModelPackageException($"{folder}: {name} is missing.");
            }

            var actual = Sha256(path);
            if (!string.Equals(actual, sha, StringComparison.OrdinalIgnoreCase))
            {
                throw new ModelPackageException($"{folder}: {name} has SHA-256 {actual[..12]}…, the manifest says {sha[..Math.Min(12, sha.Length)]}…");
            }
        }

        return new ModelPackage(Path.GetFullPath(folder), manifest);
    }

    /// <summary>
    /// Writes a package: copies <paramref name="files"/> (by name) into a temporary sibling folder, writes the manifest
    /// with their SHA-256s, then renames it to <paramref name="folder"/>, so a package is never seen half-written.
    /// </summary>
    public static ModelPackage Write(string folder, PackageManifest manifest, IReadOnlyDictionary<string, string> files)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(files);
        var full = Path.GetFullPath(folder);
        if (Directory.Exists(full))
        {
            throw new ModelPackageException($"{full} already exists; packages are not overwritten.");
        }

        var staging = full + $".partial-{Environment.ProcessId}";
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        Directory.CreateDirectory(staging);
        try
        {
            var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (name, source) in files)
            {
                if (!IsInsidePackage(name))
                {
                    throw new ModelPackageException($"Package file name {name} must be a relative path inside the package.");
                }

                var target = Path.Combine(staging, name);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(source, target);
                hashes[name] = Sha256(target);
            }

            var complete = manifest with { Files = hashes };
            File.WriteAllText(Path.Combine(staging, ManifestFile), JsonSerializer.Serialize(complete, Json));
            Directory.Move(staging, full);
            return new ModelPackage(full, complete);
        }
        catch
        {
            Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// Whether a manifest file name stays inside its package: a relative path of '/'-separated segments
    /// ("model.onnx", "training/report.md"), none empty, "." or "..", no backslash.
    /// </summary>
    public static bool IsInsidePackage(string name) =>
        !string.IsNullOrEmpty(name) && !name.Contains('\\', StringComparison.Ordinal) && name.Split('/').All(p => p is not ("" or "." or ".."));

    /// <summary>
    /// Parses a manifest of any format this build reads. Format 1 (before 2026-12) kept the eight normalization
    /// settings flat in <c>input</c>; they are moved under <c>input.normalization</c> before binding.
    /// </summary>
    public static PackageManifest? ReadManifest(string json)
    {
        var root = JsonNode.Parse(json);
        if (root is JsonObject manifest && manifest["input"] is JsonObject input && input["normalization"] is null
            && (manifest["format_version"]?.GetValue<int>() ?? 1) == 1)
        {
            var normalization = new JsonObject();
            foreach (var key in new[] { "size", "channels", "mean", "std", "lower_percentile", "upper_percentile", "use_voi_window", "preserve_aspect" })
            {
                if (input[key] is { } value)
                {
                    input.Remove(key);
                    normalization[key] = value;
                }
            }

            input["normalization"] = normalization;
        }

        return root?.Deserialize<PackageManifest>(Json);
    }

    /// <summary>Lowercase hex SHA-256 of a file.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
