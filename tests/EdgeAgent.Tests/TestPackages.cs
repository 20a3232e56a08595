using EdgeMed.DicomIngest.Normalization;
using EdgeMed.Onnx;
using EdgeMed.Onnx.Model;
using EdgeMed.Packages;
using static EdgeMed.Onnx.Model.GraphBuilder;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Small real model packages: logits = mean over H×W of each input channel (N×3) · W (3×4) + b, through ONNX Runtime.
/// Different <c>scale</c> values give different models (and SHA-256s); 32 px input keeps the tests fast.
/// </summary>
internal static class TestPackages
{
    public static readonly string[] Classes = ["MildDemented", "ModerateDemented", "NonDemented", "VeryMildDemented"];

    // nonFiniteOnImages: NaN scores for any image whose mean is not zero (sqrt(m) + sqrt(-m)), yet finite ones for the
    // all-zero warm-up batch, so the package loads and fails only on real series.
    // slowLayers: that many 2048×2048 identity MatMuls on the way (the scores stay the same), so inference takes long
    // enough for a test to kill the agent during it.
    public static string Write(string folder, float scale, DateTimeOffset created, string name = "test-model", int size = 32, IReadOnlyList<string>? classes = null, string? preprocessing = null, bool nonFiniteOnImages = false, int slowLayers = 0)
    {
        classes ??= Classes;
        var b = new GraphBuilder("mean-linear");
        var x = b.Input("input", TensorElementType.Float, -1, 3, size, size);
        var mean = b.Node("ReduceMean", [x], Attribute("axes", 2L, 3L), Attribute("keepdims", 0L));
        if (nonFiniteOnImages)
        {
            mean = b.Node("Add", [b.Node("Sqrt", [mean]), b.Node("Sqrt", [b.Node("Neg", [mean])])]);
        }

        if (slowLayers > 0)
        {
            const int Width = 2048;
            var widen = new float[3 * Width];
            var narrow = new float[Width * 3];
            var identity = new float[Width * Width];
            for (var i = 0; i < 3; i++)
            {
                widen[(i * Width) + i] = 1;
                narrow[(i * 3) + i] = 1;
            }

            for (var i = 0; i < Width; i++)
            {
                identity[(i * Width) + i] = 1;
            }

            var same = b.Initializer("identity", identity, Width, Width);
            var h = b.Node("MatMul", [mean, b.Initializer("widen", widen, 3, Width)]);
            for (var layer = 0; layer < slowLayers; layer++)
            {
                h = b.Node("MatMul", [h, same]);
            }

            mean = b.Node("MatMul", [h, b.Initializer("narrow", narrow, Width, 3)]);
        }

        var weights = new float[3 * classes.Count];
        for (var i = 0; i < weights.Length; i++)
        {
            weights[i] = scale * ((i % classes.Count) - 1.5f) * (1 + (i / classes.Count));
        }

        var w = b.Initializer("w", weights, 3, classes.Count);
        var bias = b.Initializer("b", Enumerable.Range(0, classes.Count).Select(i => 0.1f * i).ToArray(), classes.Count);
        var product = b.Node("MatMul", [mean, w]);
        b.NamedNode("Add", [product, bias], ["logits"]);
        b.Output("logits", TensorElementType.Float, -1, classes.Count);
        var staging = Path.Combine(Path.GetTempPath(), $"edgemed-model-{Guid.NewGuid():N}.onnx");
        OnnxModelFile.Save(b.Build(), staging);
        try
        {
            var manifest = new PackageManifest
            {
                Name = name,
                Arch = "mean-linear",
                Classes = classes,
                Input = new NormalizationSettings { Size = size, Channels = 3 }.ToPackageInput(3) with { PreprocessingVersion = preprocessing ?? NormalizationSettings.AlgorithmVersion },
                Outputs = ["logits"],
                Precision = "fp32",
                CreatedAt = created,
            };
            ModelPackage.Write(folder, manifest, new Dictionary<string, string> { [ModelPackage.ModelFile] = staging });
        }
        finally
        {
            File.Delete(staging);
        }

        // The catalog leaves packages younger than 2 s alone (they may still be copying in).
        foreach (var file in Directory.GetFiles(folder))
        {
            File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(-1));
        }

        return folder;
    }
}
