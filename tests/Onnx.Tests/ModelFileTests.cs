using System.Diagnostics;
using EdgeMed.Onnx.Model;
using Onnx;

namespace EdgeMed.Onnx.Tests;

public sealed class ModelFileTests
{
    [Fact]
    public void SaveThenLoad_RoundTripsTheModel()
    {
        using var folder = new TempFolder();
        var model = TestModels.Conv(Enumerable.Range(0, 18).Select(i => (float)i).ToArray(), [1f, 2f], 2, 1, 3, 4, 4);
        var path = folder.File("conv.onnx");

        OnnxModelFile.Save(model, path);
        var loaded = OnnxModelFile.Load(path);

        Assert.Equal(model, loaded);
        Assert.Equal(17, loaded.OpsetImport.Single().Version);
        Assert.Single(Directory.GetFiles(folder.Path)); // no temporary file left behind
    }

    [Fact]
    public void Save_OverExistingFile_ReplacesIt()
    {
        using var folder = new TempFolder();
        var path = folder.File("m.onnx");
        OnnxModelFile.Save(TestModels.Add(1), path);

        OnnxModelFile.Save(TestModels.SumAndProduct(2), path);

        Assert.Equal("two_outputs", OnnxModelFile.Load(path).Graph.Name);
    }

    [Fact]
    public void Load_MissingFile_ThrowsFileNotFound()
    {
        Assert.Throws<FileNotFoundException>(() => OnnxModelFile.Load("/nonexistent/model.onnx"));
    }

    [Theory]
    [InlineData("text")]
    [InlineData("truncated")]
    [InlineData("empty")]
    public void Parse_NonModelBytes_ThrowsOnnxModelFormatException(string kind)
    {
        var model = TestModels.Add(2).Bytes();
        var bytes = kind switch
        {
            "text" => "{\"not\": \"onnx\"}"u8.ToArray(),
            "truncated" => model[..(model.Length - 7)],
            _ => [],
        };

        Assert.Throws<OnnxModelFormatException>(() => OnnxModelFile.Parse(bytes, kind));
    }

    [Fact]
    public void GraphBuilder_DuplicateName_Throws()
    {
        var b = new GraphBuilder("dup");
        b.Input("x", TensorElementType.Float, 1);

        Assert.Throws<ArgumentException>(() => b.Input("x", TensorElementType.Float, 1));
        Assert.Throws<ArgumentException>(() => b.Initializer("w", new float[3], 2, 2));
    }

    [Fact]
    public void GraphBuilder_Models_PassOnnxChecker()
    {
        using var folder = new TempFolder();
        var models = new (string Name, ModelProto Model)[]
        {
            ("add", TestModels.Add(-1, 3)),
            ("matmul", TestModels.MatMul(new float[12], 3, 4)),
            ("conv", TestModels.Conv(new float[2 * 3 * 9], new float[2], 2, 3, 3, 8, 8)),
            ("two_outputs", TestModels.SumAndProduct(3)),
            ("integer_types", TestModels.IntegerTypes(2)),
        };
        foreach (var (name, model) in models)
        {
            OnnxModelFile.Save(model, folder.File(name + ".onnx"));
        }

        // Debian's python3-onnx (installed by setup) is the reference checker.
        var script = "import onnx, sys\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(p), full_check=True)\nprint('ok', len(sys.argv) - 1)";
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        foreach (var (name, _) in models)
        {
            start.ArgumentList.Add(folder.File(name + ".onnx"));
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();

        Assert.True(process.ExitCode == 0, stderr);
        Assert.Equal($"ok {models.Length}", stdout.Trim());
    }

    [Fact]
    public void OnnxChecker_RejectsABrokenModel_SoTheCheckAboveCanFail()
    {
        using var folder = new TempFolder();
        var b = new GraphBuilder("broken");
        var x = b.Input("x", TensorElementType.Float, 1);
        b.NamedNode("Add", [x, "undefined_value"], ["y"]);
        b.Output("y", TensorElementType.Float, 1);
        var path = folder.File("broken.onnx");
        OnnxModelFile.Save(b.Build(), path);

        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)");
        start.ArgumentList.Add(path);
        using var process = Process.Start(start)!;
        _ = process.StandardError.ReadToEnd();
        process.WaitForExit();

        Assert.NotEqual(0, process.ExitCode);
    }
}
