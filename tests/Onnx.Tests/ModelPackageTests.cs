using EdgeMed.Onnx.Packages;

namespace EdgeMed.Onnx.Tests;

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
        File.WriteAllBytes(model, TestModels.Add(1).Bytes());
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
        File.WriteAllBytes(model, TestModels.Add(1).Bytes());
        var target = Path.Combine(_root, "pkg");

        Assert.Throws<ModelPackageException>(() => ModelPackage.Write(target, Manifest, new Dictionary<string, string> { [ModelPackage.ModelFile] = model, [name] = model }));

        Assert.False(Directory.Exists(target));
        Assert.False(File.Exists(Path.Combine(_root, "outside.md")));
        Assert.Empty(Directory.GetDirectories(_root));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
