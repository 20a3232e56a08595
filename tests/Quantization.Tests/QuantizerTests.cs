using System.Diagnostics;
using EdgeMed.DicomIngest.Datasets;
using EdgeMed.DicomIngest.Normalization;
using EdgeMed.Onnx;
using EdgeMed.Onnx.Model;
using EdgeMed.Packages;
using EdgeMed.Onnx.Runtime;
using Xunit.Abstractions;

namespace EdgeMed.Quantization.Tests;

/// <summary>A small fp32 package trained by the real trainer, and labeled folders to calibrate and evaluate with.</summary>
public sealed class TrainedPackage : IDisposable
{
    public TrainedPackage()
    {
        Calibration = Folder("calib", skip: 100, take: 4);
        Evaluation = Folder("eval", skip: 200, take: 5);
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "EdgeMed.TrainerHost")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--data", SharedData.Alzheimer, "--arch", "base-cnn", "--out", Path.Combine(Root, "run"), "--size", "32", "--epochs", "1", "--threads", "1", "--subset", "MildDemented=8,ModerateDemented=8,NonDemented=8,VeryMildDemented=8", "--cache", Cache })
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["CI"] = "true";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, error + output.Result);
    }

    public string Root { get; } = Directory.CreateTempSubdirectory("edgemed-quant-").FullName;

    public string Cache => Path.Combine(Root, "cache");

    public string Package => Path.Combine(Root, "run", "package");

    public string Calibration { get; }

    public string Evaluation { get; }

    private string Folder(string name, int skip, int take)
    {
        var root = Path.Combine(Root, name);
        foreach (var source in Directory.GetDirectories(SharedData.Alzheimer))
        {
            var target = Path.Combine(root, Path.GetFileName(source));
            Directory.CreateDirectory(target);
            foreach (var file in Directory.GetFiles(source).Order(StringComparer.Ordinal).Skip(skip % 40).Take(take))
            {
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
            }
        }

        return root;
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

public sealed class QuantizerTests(TrainedPackage trained, ITestOutputHelper output) : IClassFixture<TrainedPackage>
{
    private string Out(string name) => Path.Combine(trained.Root, name);

    [Theory]
    [InlineData(Calibration.CalibrationMethod.MinMax)]
    [InlineData(Calibration.CalibrationMethod.Percentile)]
    [InlineData(Calibration.CalibrationMethod.Entropy)]
    public async Task TrainerPackage_QuantizesToAValidInt8PackageWithAReport(Calibration.CalibrationMethod method)
    {
        var target = Out("int8-" + method);

        var report = await Quantizer.QuantizeAsync(new QuantizeRequest { Model = trained.Package, Calibration = trained.Calibration, Out = target, Method = method, Samples = 16, Eval = trained.Evaluation, Threads = 1, Cache = trained.Cache }, output.WriteLine, CancellationToken.None);

        var package = ModelPackage.Load(target, NormalizationSettings.AlgorithmVersion);
        Assert.Equal("int8", package.Manifest.Precision);
        Assert.Equal(ModelPackage.Load(trained.Package).Manifest.Classes, package.Manifest.Classes);
        foreach (var key in new[] { "top1_agreement", "accuracy_fp32", "accuracy_int8", "latency_ratio_int8_fp32", "size_ratio" })
        {
            Assert.True(report.TryGetProperty(key, out _), $"report.json lacks {key}");
        }

        Assert.True(report.GetProperty("size_ratio").GetDouble() < 1);
        Assert.InRange(report.GetProperty("top1_agreement").GetDouble(), 0.5, 1.0);
        Assert.True(File.Exists(Path.Combine(target, "report.md")));

        // The parent's training evidence travels with the int8 model, hashed in its manifest, and the command that
        // rebuilds the parent is named.
        Assert.Equal(ModelPackage.Load(trained.Package).Manifest.Files["training/report.md"], package.Manifest.Files["training/report.md"]);
        Assert.True(File.Exists(Path.Combine(target, "training", "confusion_matrix.png")));
        Assert.StartsWith("./edgemed.sh train ", package.Manifest.Quantization!.Value.GetProperty("source_command").GetString(), StringComparison.Ordinal);
        Assert.True(report.GetProperty("tensors_worst_first").GetArrayLength() > 0);
        using var session = OnnxSession.Open(package.ModelPath);
        Assert.Contains(OnnxModelFile.Load(package.ModelPath).Graph.Node, n => n.OpType == "QuantizeLinear");
        output.WriteLine(File.ReadAllText(Path.Combine(target, "report.md")));
    }

    [Fact]
    public async Task FloatMatMulOutputs_WritesAPackageWithoutRequantizedProducts_AndSaysSoInManifestAndReport()
    {
        // A pointwise MLP head: the first product feeds a float Relu, as a ConvNeXt block's feeds its GELU.
        var random = new Random(7);
        float[] Weights(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var b = new GraphBuilder("mlp");
        var x = b.Input("input", TensorElementType.Float, -1, 3, 32, 32);
        var flat = b.Node("Flatten", [b.Node("GlobalAveragePool", [x])]);
        b.NamedNode("MatMul", [flat, b.Initializer("w1", Weights(3 * 8), 3, 8)], ["h"]);
        b.NamedNode("Relu", ["h"], ["features"]);
        b.NamedNode("MatMul", ["features", b.Initializer("w2", Weights(8 * 4), 8, 4)], ["logits"]);
        b.Output("logits", TensorElementType.Float, -1, 4);
        b.Output("features", TensorElementType.Float, -1, 8);
        var model = Path.Combine(trained.Root, "mlp.onnx");
        OnnxModelFile.Save(b.Build(), model);
        var mlp = ModelPackage.Write(Out("mlp-package"), ModelPackage.Load(trained.Package).Manifest, new Dictionary<string, string> { [ModelPackage.ModelFile] = model });
        var target = Out("int8-float-matmul-outputs");

        var report = await Quantizer.QuantizeAsync(new QuantizeRequest { Model = mlp.Folder, Calibration = trained.Calibration, Out = target, Samples = 16, Eval = trained.Evaluation, Threads = 1, Cache = trained.Cache, Format = new QdqFormat { FloatMatMulOutputs = true } }, output.WriteLine, CancellationToken.None);

        var package = ModelPackage.Load(target, NormalizationSettings.AlgorithmVersion);
        var graph = OnnxModelFile.Load(package.ModelPath).Graph;
        Assert.Equal(2, graph.Node.Count(n => n.OpType == "MatMul"));
        Assert.DoesNotContain(graph.Node, n => n.OpType == "QuantizeLinear" && n.Input[0].StartsWith('h'));
        Assert.Equal(2, graph.Node.Count(n => n.OpType == "QuantizeLinear")); // the products' inputs are still quantized
        Assert.Equal("float", package.Manifest.Quantization!.Value.GetProperty("matmul_outputs").GetString());
        Assert.Equal("float", report.GetProperty("matmul_outputs").GetString());
        Assert.InRange(report.GetProperty("top1_agreement").GetDouble(), 0.5, 1.0);
    }

    [Fact]
    public async Task ExistingOutput_IsRefusedAndNothingIsWritten()
    {
        var target = Out("exists");
        Directory.CreateDirectory(target);

        await Assert.ThrowsAsync<QuantizationException>(() => Quantizer.QuantizeAsync(new QuantizeRequest { Model = trained.Package, Calibration = trained.Calibration, Out = target, Cache = trained.Cache }, _ => { }, CancellationToken.None));
        Assert.Empty(Directory.GetFileSystemEntries(target));
    }

    [Fact]
    public async Task CalibrationSetWithOtherClasses_IsRefused()
    {
        var other = Out("other-classes");
        Directory.CreateDirectory(Path.Combine(other, "Cats"));
        Directory.CreateDirectory(Path.Combine(other, "Dogs"));

        await Assert.ThrowsAsync<DatasetException>(() => Quantizer.QuantizeAsync(new QuantizeRequest { Model = trained.Package, Calibration = other, Out = Out("never-1"), Cache = trained.Cache }, _ => { }, CancellationToken.None));
        Assert.False(Directory.Exists(Out("never-1")));
    }

    [Fact]
    public async Task TooSmallCalibrationSet_IsRefused()
    {
        var tiny = Out("tiny-calib");
        foreach (var source in Directory.GetDirectories(trained.Calibration))
        {
            var target = Path.Combine(tiny, Path.GetFileName(source));
            Directory.CreateDirectory(target);
            File.Copy(Directory.GetFiles(source).First(), Path.Combine(target, "one.jpg"));
        }

        var error = await Assert.ThrowsAsync<QuantizationException>(() => Quantizer.QuantizeAsync(new QuantizeRequest { Model = trained.Package, Calibration = tiny, Out = Out("never-2"), Cache = trained.Cache }, _ => { }, CancellationToken.None));

        Assert.Contains("at least", error.Message);
        Assert.False(Directory.Exists(Out("never-2")));
    }

    [Fact]
    public async Task PackageWithoutQuantizableOps_IsRefused()
    {
        var b = new GraphBuilder("no-weights");
        var x = b.Input("input", TensorElementType.Float, -1, 3, 32, 32);
        var pooled = b.Node("Flatten", [b.Node("GlobalAveragePool", [x])]);
        b.NamedNode("Identity", [b.Node("Slice", [pooled, b.Initializer("starts", new long[] { 0 }, 1), b.Initializer("ends", new long[] { 2 }, 1), b.Initializer("axes", new long[] { 1 }, 1)])], ["logits"]);
        b.NamedNode("Identity", [pooled], ["features"]);
        b.Output("logits", TensorElementType.Float, -1, 2);
        b.Output("features", TensorElementType.Float, -1, 3);
        var model = Path.Combine(trained.Root, "noop.onnx");
        OnnxModelFile.Save(b.Build(), model);
        var manifest = ModelPackage.Load(trained.Package).Manifest with { Classes = ["MildDemented", "ModerateDemented"] };
        var package = ModelPackage.Write(Out("noop-package"), manifest, new Dictionary<string, string> { [ModelPackage.ModelFile] = model });

        var error = await Assert.ThrowsAsync<QuantizationException>(() => Quantizer.QuantizeAsync(new QuantizeRequest { Model = package.Folder, Calibration = trained.Calibration, Out = Out("never-3"), Cache = trained.Cache }, _ => { }, CancellationToken.None));

        Assert.Contains("No quantizable node", error.Message);
    }

    [Fact]
    public async Task ModelWithDynamicImageSize_IsRefused()
    {
        var b = new GraphBuilder("dynamic");
        var x = b.Input("input", TensorElementType.Float, -1, 3, -1, -1);
        var flat = b.Node("Flatten", [b.Node("GlobalAveragePool", [x])]);
        b.NamedNode("MatMul", [flat, b.Initializer("w", new float[3 * 4], 3, 4)], ["logits"]);
        b.NamedNode("Identity", [flat], ["features"]);
        b.Output("logits", TensorElementType.Float, -1, 4);
        b.Output("features", TensorElementType.Float, -1, 3);
        var model = Path.Combine(trained.Root, "dynamic.onnx");
        OnnxModelFile.Save(b.Build(), model);
        var package = ModelPackage.Write(Out("dynamic-package"), ModelPackage.Load(trained.Package).Manifest, new Dictionary<string, string> { [ModelPackage.ModelFile] = model });

        var error = await Assert.ThrowsAsync<QuantizationException>(() => Quantizer.QuantizeAsync(new QuantizeRequest { Model = package.Folder, Calibration = trained.Calibration, Out = Out("never-6"), Cache = trained.Cache }, _ => { }, CancellationToken.None));

        Assert.Contains("dynamic", error.Message);
    }

    [Fact]
    public async Task PackageWhoseModelIsNotOnnx_IsRefused()
    {
        var junk = Path.Combine(trained.Root, "junk.onnx");
        await File.WriteAllTextAsync(junk, "not a model");
        var package = ModelPackage.Write(Out("junk-package"), ModelPackage.Load(trained.Package).Manifest, new Dictionary<string, string> { [ModelPackage.ModelFile] = junk });

        var error = await Assert.ThrowsAsync<QuantizationException>(() => Quantizer.QuantizeAsync(new QuantizeRequest { Model = package.Folder, Calibration = trained.Calibration, Out = Out("never-4"), Cache = trained.Cache }, _ => { }, CancellationToken.None));

        Assert.Contains("not an ONNX model", error.Message);
    }

    [Theory]
    [InlineData("never-5", "minmax, percentile or entropy", "--method", "magic")]
    [InlineData("never-cli-1", "choose int8 or float", "--matmul-outputs", "int4")]
    [InlineData("never-cli-2", "need --format qdq", "--format", "dynamic", "--include-depthwise")]
    [InlineData("never-cli-3", "need --format qdq", "--format", "dynamic", "--matmul-outputs", "float")]
    public async Task Cli_UnknownOrContradictoryChoice_IsAUsageErrorAndWritesNothing(string output, string message, params string[] choice)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "EdgeMed.Quantization")) { RedirectStandardError = true };
        foreach (var arg in new[] { "--model", trained.Package, "--calib", trained.Calibration, "--out", Out(output) }.Concat(choice))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(2, process.ExitCode);
        Assert.Contains(message, error);
        Assert.False(Directory.Exists(Out(output)));
    }
}
