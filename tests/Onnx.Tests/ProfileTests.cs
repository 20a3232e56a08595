using EdgeMed.Onnx.Runtime;

namespace EdgeMed.Onnx.Tests;

/// <summary>ONNX Runtime's session profile, summed by operator type (<c>agent bench --profile</c>, issue 14).</summary>
public sealed class ProfileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("edgemed-profile-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Profile_CountsRunsAfterTheWarmUp_AndSumsKernelTimeByOperator()
    {
        var options = new OnnxSessionOptions { IntraOpThreads = 1, ProfilePrefix = Path.Combine(_folder, "run") };
        string path;
        using (var session = OnnxSession.FromBytes(TestModels.LongChain(64, 16).Bytes(), options))
        {
            using var x = OnnxTensor.Create(new float[64 * 64], 64, 64);
            for (var i = 0; i < 5; i++)
            {
                using var outputs = session.Run([new("x", x)]);
            }

            path = session.EndProfiling();
        }

        Assert.StartsWith(_folder, path, StringComparison.Ordinal);
        var profile = OperatorProfile.Read(path, skipRuns: 1);

        Assert.Equal(4, profile.Runs);
        var matMul = Assert.Single(profile.Operators);
        Assert.Equal(("MatMul", 16), (matMul.OpType, matMul.Nodes));
        Assert.True(profile.KernelMilliseconds > 0 && profile.KernelMilliseconds <= profile.RunMilliseconds, $"kernels {profile.KernelMilliseconds} ms of {profile.RunMilliseconds} ms");
        Assert.True(OperatorProfile.Read(path).KernelMilliseconds > profile.KernelMilliseconds, "the warm-up run's kernels are left out");
    }

    [Fact]
    public void NotAProfile_IsRefusedClearly()
    {
        var path = Path.Combine(_folder, "x.json");
        File.WriteAllText(path, "{\"a\": 1}");

        var error = Assert.Throws<InvalidDataException>(() => OperatorProfile.Read(path));
        Assert.Contains("not an ONNX Runtime profile", error.Message, StringComparison.Ordinal);
    }
}
