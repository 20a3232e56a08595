using System.IO.Compression;
using System.Security.Cryptography;

namespace EdgeMed.TrainerHost.Training;

/// <summary>
/// <c>--init imagenet</c>: the one set of ImageNet-trained weights reachable here, the ResNet ONNX model inside ML.NET's
/// NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 0.24.0 (MIT). Fetched once from the NuGet feed, checked
/// against the SHA-256 pinned below and unpacked into the weights folder; the worker turns it into ResNet-18 weights.
/// </summary>
internal static class ImagenetWeights
{
    public const string Keyword = "imagenet";

    public const string PackageFile = "microsoft.ml.dnnimagefeaturizer.resnet18.0.24.0.nupkg";

    public const string PackageUrl = "https://api.nuget.org/v3-flatcontainer/microsoft.ml.dnnimagefeaturizer.resnet18/0.24.0/" + PackageFile;

    public const string PackageSha256 = "bedf0c5ce14b01c863ce6a859fa7e322277a1d073b24d88d22ff8dac4dad1525";

    private const string ModelEntry = "tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx";

    private const string PreprocessEntry = "tools/DnnImageModels/ResNetPrepOnnx/ResNetPreprocess.onnx";

    /// <summary>Where the package and its models live: <c>$EDGEMED_WEIGHTS</c>, else <c>~/.cache/edgemed/weights</c>.</summary>
    public static string DefaultFolder =>
        Environment.GetEnvironmentVariable("EDGEMED_WEIGHTS") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "edgemed", "weights");

    /// <summary>
    /// The model and its preprocessing model, unpacked. A package already in <paramref name="folder"/> (copied there
    /// by hand on a machine without the feed) is used instead of a download; either way its hash must match.
    /// </summary>
    public static async Task<(string Model, string Preprocess)> EnsureAsync(string folder, TrainingConsole ui, CancellationToken cancellationToken)
    {
        var model = Path.Combine(folder, "ResNet18.onnx");
        var preprocess = Path.Combine(folder, "ResNetPreprocess.onnx");
        if (File.Exists(model) && File.Exists(preprocess))
        {
            return (model, preprocess);
        }

        Directory.CreateDirectory(folder);
        var package = Path.Combine(folder, PackageFile);
        if (!File.Exists(package))
        {
            ui.Line($"fetching ImageNet ResNet weights: {PackageFile} from the NuGet feed");
            await DownloadAsync(package, cancellationToken).ConfigureAwait(false);
        }

        string actual;
        await using (var stream = File.OpenRead(package))
        {
            actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
        }

        if (actual != PackageSha256)
        {
            throw new TrainingInputException($"--init {Keyword}: {package} has SHA-256 {actual}, not the pinned {PackageSha256}; delete it to fetch it again, or copy the right file there.");
        }

        using var zip = ZipFile.OpenRead(package);
        // The preprocessing model first: the main model's presence is what says the folder is complete.
        Extract(zip, PreprocessEntry, preprocess, package);
        Extract(zip, ModelEntry, model, package);
        return (model, preprocess);
    }

    private static async Task DownloadAsync(string package, CancellationToken cancellationToken)
    {
        var partial = $"{package}.{Path.GetRandomFileName()}.part"; // two first runs at once must not share a file
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
            using var response = await http.GetAsync(PackageUrl, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            response.EnsureSuccessStatusCode();
            await using (var file = File.Create(partial))
            {
                await response.Content.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
            }

            File.Move(partial, package, overwrite: true);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new TrainingInputException($"--init {Keyword}: could not fetch {PackageUrl} ({e.Message}); on a machine without the feed, copy {PackageFile} into {Path.GetDirectoryName(package)}.");
        }
        finally
        {
            File.Delete(partial); // gone already when the download completed; a cut-off one is not kept
        }
    }

    private static void Extract(ZipArchive zip, string entryName, string destination, string package)
    {
        var entry = zip.GetEntry(entryName) ?? throw new TrainingInputException($"--init {Keyword}: {package} has no {entryName}.");
        var partial = $"{destination}.{Path.GetRandomFileName()}.part";
        entry.ExtractToFile(partial);
        File.Move(partial, destination, overwrite: true);
    }
}
