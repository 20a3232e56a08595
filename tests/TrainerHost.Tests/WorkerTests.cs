using System.Globalization;
using System.Text.Json;
using Xunit.Abstractions;

namespace EdgeMed.TrainerHost.Tests;

public sealed class WorkerTests(ITestOutputHelper output)
{
    [Fact]
    public async Task EveryArchitecture_HasTheExpectedOutputShapes_AndPrintsItsParameterCount()
    {
        var lines = await Trainer.PythonAsync("import edgemed_worker as w; w.describe(64)");
        var found = new Dictionary<string, JsonElement>();
        foreach (var line in lines.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement.Clone();
            found[e.GetProperty("name").GetString()!] = e;
            output.WriteLine($"{e.GetProperty("name").GetString(),-15} input {e.GetProperty("input")} logits {e.GetProperty("logits")} features {e.GetProperty("features")} parameters {e.GetProperty("parameters").GetInt64():N0}");
        }

        var featureWidths = new Dictionary<string, int> { ["iconvnext-tiny"] = 256, ["convnext-tiny"] = 768, ["base-cnn"] = 128, ["arn-cnn"] = 256, ["arn-cnn-no-attention"] = 256, ["arn-cnn-no-residual"] = 256, ["resnet18"] = 512, ["resnet50"] = 2048, ["vgg16"] = 4096 };
        Assert.Equal(featureWidths.Keys.Order(), found.Keys.Order());
        foreach (var (name, width) in featureWidths)
        {
            Assert.Equal("[2,4]", found[name].GetProperty("logits").GetRawText().Replace(" ", string.Empty, StringComparison.Ordinal));
            Assert.Equal(width, found[name].GetProperty("features")[1].GetInt32());
        }

        // IConvNeXt-Tiny = ConvNeXt-Tiny's features (plain ConvNeXt-Tiny less its LayerNorm 2×768 and Linear 768→4)
        // + SEVector 1536→96→1536 + FC 1536→256 + FC 256→4.
        var backbone = found["convnext-tiny"].GetProperty("parameters").GetInt64() - (2 * 768) - ((768 * 4) + 4);
        const long Head = ((1536 * 96) + 96) + ((96 * 1536) + 1536) + ((1536 * 256) + 256) + ((256 * 4) + 4);
        Assert.Equal(backbone + Head, found["iconvnext-tiny"].GetProperty("parameters").GetInt64());
        Assert.Equal(1, found["arn-cnn"].GetProperty("input")[1].GetInt32());
        Assert.Equal("adamax", found["arn-cnn"].GetProperty("default_optimizer").GetString());

        // The ablations drop exactly their parts: the gates (Linear C→max(8, C/8)→C per block), or the 1×1
        // projections (conv + BatchNorm) of the two blocks that change width.
        static long Gates(int c) => (c * Math.Max(8, c / 8)) + Math.Max(8, c / 8) + (Math.Max(8, c / 8) * c) + c;
        var arn = found["arn-cnn"].GetProperty("parameters").GetInt64();
        Assert.Equal(arn - Gates(32) - Gates(64) - Gates(128), found["arn-cnn-no-attention"].GetProperty("parameters").GetInt64());
        Assert.Equal(arn - ((32 * 64) + (2 * 64)) - ((64 * 128) + (2 * 128)), found["arn-cnn-no-residual"].GetProperty("parameters").GetInt64());
        Assert.Equal(0.05, found["iconvnext-tiny"].GetProperty("default_lambda_fs").GetDouble());
    }

    [Fact]
    public async Task FeatureSmoothingLoss_OnAHandMadeBatch_IsTheMeanOverClassesOfMeanSquaredDistances()
    {
        // Class 0: (0,0) and (2,0), mean (1,0): squared distances 1 and 1 → 1. Class 1: (5,5) and (5,9), mean (5,7): 4 and 4 → 4.
        // Class 2 alone at (1,1): 0. Average over the three classes present: (1 + 4 + 0) / 3.
        var value = await Trainer.PythonAsync(
            "import torch, edgemed_worker as w\n" +
            "f = torch.tensor([[0., 0.], [2., 0.], [5., 5.], [5., 9.], [1., 1.]])\n" +
            "y = torch.tensor([0, 0, 1, 1, 2])\n" +
            "print(w.feature_smoothing_loss(f, y).item())");

        Assert.Equal(5.0 / 3, double.Parse(value.Trim(), CultureInfo.InvariantCulture), 6);
    }

    [Fact]
    public async Task TrainingSteps_OnAFixedBatch_LowerTheLoss()
    {
        var result = await Trainer.PythonAsync(
            "import torch, torch.nn.functional as F, edgemed_worker as w\n" +
            "torch.manual_seed(0); torch.set_num_threads(2)\n" +
            "m = w.IConvNeXtTiny(4); m.train()\n" +
            "x = torch.randn(4, 3, 32, 32); y = torch.tensor([0, 1, 2, 3])\n" +
            "opt = torch.optim.Adam(m.parameters(), lr=1e-3)\n" +
            "def loss():\n" +
            "    logits, feats = m(x)\n" +
            "    return F.cross_entropy(logits, y) + 0.05 * w.feature_smoothing_loss(feats, y)\n" +
            "m.eval()\n" +
            "with torch.no_grad(): before = loss().item()\n" +
            "m.train()\n" +
            "for _ in range(15):\n" +
            "    opt.zero_grad(); l = loss(); l.backward(); opt.step()\n" +
            "m.eval()\n" +
            "with torch.no_grad(): after = loss().item()\n" +
            "print(before, after)");
        var parts = result.Trim().Split(' ').Select(p => double.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        output.WriteLine($"loss before {parts[0]:F4}, after 15 steps {parts[1]:F4}");

        Assert.True(parts[1] < parts[0] * 0.8, $"loss {parts[0]} → {parts[1]}");
    }
}
