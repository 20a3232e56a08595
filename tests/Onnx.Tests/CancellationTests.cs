using System.Diagnostics;
using EdgeMed.Onnx.Runtime;
using Xunit.Abstractions;

namespace EdgeMed.Onnx.Tests;

public sealed class CancellationTests(ITestOutputHelper output)
{
    // About a minute of work uncancelled on this machine: if cancellation did not reach ONNX Runtime, the test would fail (no exception).
    private static readonly byte[] LongModel = TestModels.LongChain(256, 20_000).Bytes();

    [Fact]
    public async Task Cancel_DuringLongRun_ThrowsOperationCanceled_AndSessionStaysUsable()
    {
        using var session = OnnxSession.FromBytes(LongModel, new OnnxSessionOptions { IntraOpThreads = 1 });
        using var tx = OnnxTensor.Create(new float[256 * 256], 256, 256);
        using var cts = new CancellationTokenSource();

        var started = Stopwatch.StartNew();
        var run = Task.Run(() => session.Run([new("x", tx)], cts.Token));
        await Task.Delay(300);
        cts.Cancel();
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        output.WriteLine($"run ended {started.ElapsedMilliseconds} ms after start, 300 ms of it before cancelling; inner: {error.InnerException?.Message}");
        Assert.Equal(cts.Token, error.CancellationToken);

        // The terminate flag belonged to that run only: the session and the next run are fine.
        using var smallSession = OnnxSession.FromBytes(TestModels.Add(1).Bytes());
        using var a = OnnxTensor.Create(new float[] { 2 }, 1);
        using var outputs = smallSession.Run([new("x", a), new("y", a)], CancellationToken.None);
        Assert.Equal(4f, outputs.GetSpan<float>(0)[0]);
    }

    [Fact]
    public void Cancel_OneRun_DoesNotStopAnotherOnTheSameSession()
    {
        using var session = OnnxSession.FromBytes(TestModels.LongChain(32, 200).Bytes(), new OnnxSessionOptions { IntraOpThreads = 1 });
        using var tx = OnnxTensor.Create(new float[32 * 32], 32, 32);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        using var live = new CancellationTokenSource();

        Assert.ThrowsAny<OperationCanceledException>(() => session.Run([new("x", tx)], cancelled.Token));
        using var outputs = session.Run([new("x", tx)], live.Token);

        Assert.Equal(32 * 32, outputs.GetSpan<float>(0).Length);
    }

    [Fact]
    public void Run_WithAlreadyCancelledToken_ThrowsBeforeNativeCall()
    {
        using var session = OnnxSession.FromBytes(TestModels.Add(1).Bytes());
        using var a = OnnxTensor.Create(new float[] { 1 }, 1);
        var token = new CancellationToken(canceled: true);

        var error = Assert.ThrowsAny<OperationCanceledException>(() => session.Run([new("x", a), new("y", a)], token));

        Assert.Null(error.InnerException); // refused in managed code: ONNX Runtime was never asked
    }
}
