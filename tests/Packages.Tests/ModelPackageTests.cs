using System.Text.Json;

namespace EdgeMed.Packages.Tests;

public sealed class ModelPackageTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("edgemed-package-").FullName;

    private static PackageManifest Manifest => new()
    {
        Name = "p",
        Arch = "test",
        Classes = ["a", "b"],
        Input = new PackageInput { PreprocessingVersion = "slice-normalizer/1" },
    };

    [Fact]
    public void FilesInSubfolders_AreWrittenHashedAndVerifiedOnLoad()
    {
        var model = Path.Combine(_root, "model.bin");
        var report = Path.Combine(_root, "report.md");
        File.WriteAllBytes(model, [8, 1, 18, 4]); // the package checks hashes, not ONNX
        File.WriteAllText(report, "# training report");

        var package = ModelPackage.Write(Path.Combine(_root, "pkg"), Manifest, new Dictionary<string, string> { [ModelPackage.ModelFile] = model, ["training/report.md"] = report });

        Assert.True(File.Exists(Path.Combine(package.Folder, "training", "report.md")));
        Assert.Equal(ModelPackage.Sha256(report), ModelPackage.Load(package.Folder).Manifest.Files["training/report.md"]);

        File.AppendAllText(Path.Combine(package.Folder, "training", "report.md"), "edited");
        var error = Assert.Throws<ModelPackageException>(() => ModelPackage.Load(package.Folder));
        Assert.Contains("training/report.md has SHA-256", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../outside.md")]
    [InlineData("training/../../outside.md")]
    [InlineData("/etc/outside.md")]
    [InlineData("training\\outside.md")]
    [InlineData("training//x.md")]
    public void NamesOutsideThePackage_AreRefused_AndNothingIsWritten(string name)
    {
        var model = Path.Combine(_root, "model.bin");
        File.WriteAllBytes(model, [8, 1, 18, 4]); // the package checks hashes, not ONNX
        var target = Path.Combine(_root, "pkg");

        Assert.Throws<ModelPackageException>(() => ModelPackage.Write(target, Manifest, new Dictionary<string, string> { [ModelPackage.ModelFile] = model, [name] = model }));

        Assert.False(Directory.Exists(target));
        Assert.False(File.Exists(Path.Combine(_root, "outside.md")));
        Assert.Empty(Directory.GetDirectories(_root));
    }

    [Fact]
    public void FormatOneManifests_StillLoad_WithTheirFlatNormalizationSettings()
    {
        // What packages written before format 2 (e.g. on devices in the field) carry in input.
        const string FormatOne = """
            {"format_version": 1, "name": "old", "arch": "iconvnext-tiny", "classes": ["a", "b"],
             "input": {"name": "input", "size": 128, "channels": 3, "mean": 0.5, "std": 0.25, "preprocessing_version": "slice-normalizer/1",
                       "lower_percentile": 1.0, "upper_percentile": 99.0, "use_voi_window": false, "preserve_aspect": true},
             "outputs": ["logits", "features"], "precision": "int8", "files": {}}
            """;

        var manifest = ModelPackage.ReadManifest(FormatOne)!;

        Assert.Equal(1, manifest.FormatVersion);
        Assert.Equal(new DicomIngest.Normalization.NormalizationSettings { Size = 128, Channels = 3, Mean = 0.5f, Std = 0.25f, LowerPercentile = 1.0, UpperPercentile = 99.0, UseVoiWindow = false, PreserveAspect = true }, manifest.Input.Normalization);
        Assert.Equal("slice-normalizer/1", manifest.Input.PreprocessingVersion);
    }

    [Fact]
    public void NewManifests_NestTheNormalization_AndAFutureFormatIsRefused()
    {
        var model = Path.Combine(_root, "model.bin");
        File.WriteAllBytes(model, [1]);
        var package = ModelPackage.Write(Path.Combine(_root, "pkg"), Manifest, new Dictionary<string, string> { [ModelPackage.ModelFile] = model });
        var path = Path.Combine(package.Folder, ModelPackage.ManifestFile);
        using (var json = JsonDocument.Parse(File.ReadAllText(path)))
        {
            Assert.Equal(PackageManifest.CurrentFormat, json.RootElement.GetProperty("format_version").GetInt32());
            Assert.Equal(224, json.RootElement.GetProperty("input").GetProperty("normalization").GetProperty("size").GetInt32());
            Assert.False(json.RootElement.GetProperty("input").TryGetProperty("size", out _));
        }

        File.WriteAllText(path, File.ReadAllText(path).Replace($"\"format_version\": {PackageManifest.CurrentFormat}", "\"format_version\": 99", StringComparison.Ordinal));
        var error = Assert.Throws<ModelPackageException>(() => ModelPackage.Load(package.Folder));
        Assert.Contains("format 99", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
