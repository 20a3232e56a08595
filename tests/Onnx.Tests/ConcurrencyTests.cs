using EdgeMed.Onnx.Runtime;

namespace EdgeMed.Onnx.Tests;

public sealed class ConcurrencyTests
{
    [Fact]
    public async Task OneSession_EightThreadsAtOnce_EachGetsItsOwnResult()
    {
        const int Threads = 8, RunsPerThread = 300, Length = 256;
        using var session = OnnxSession.FromBytes(TestModels.Add(Length).Bytes(), new OnnxSessionOptions { IntraOpThreads = 1 });
        using var start = new Barrier(Threads);

        var workers = Enumerable.Range(0, Threads).Select(t => Task.Factory.StartNew(() =>
        {
            var x = new float[Length];
            var y = new float[Length];
            using var tx = OnnxTensor.Create(x, Length);
            using var ty = OnnxTensor.Create(y, Length);
            start.SignalAndWait();
            for (var run = 0; run < RunsPerThread; run++)
            {
                for (var i = 0; i < Length; i++)
                {
                    x[i] = (t * 1000) + run;
                    y[i] = i;
                }

                using var outputs = session.Run([new("x", tx), new("y", ty)]);
                var z = outputs.GetSpan<float>(0);
                for (var i = 0; i < Length; i++)
                {
                    if (z[i] != (t * 1000) + run + i)
                    {
                        return $"thread {t} run {run} element {i}: {z[i]}";
                    }
                }
            }

            return null;
        }, TaskCreationOptions.LongRunning)).ToArray();

        var failures = (await Task.WhenAll(workers)).Where(f => f is not null).ToArray();
        Assert.Empty(failures);
    }

    [Fact]
    public async Task Dispose_WhileRunsInFlight_LetsThemFinishOrRefusesCleanly()
    {
        using var session = OnnxSession.FromBytes(TestModels.LongChain(64, 400).Bytes(), new OnnxSessionOptions { IntraOpThreads = 1 });
        using var tx = OnnxTensor.Create(new float[64 * 64], 64, 64);
        var running = Task.Run(() =>
        {
            var completed = 0;
            for (var i = 0; i < 50; i++)
            {
                try
                {
                    using var outputs = session.Run([new("x", tx)]);
                    _ = outputs.GetSpan<float>(0)[0];
                    completed++;
                }
                catch (ObjectDisposedException)
                {
                    break;
                }
            }

            return completed;
        });

        await Task.Delay(50);
        session.Dispose();
        var completed = await running;

        Assert.InRange(completed, 0, 50);
        Assert.Throws<ObjectDisposedException>(() => session.Run([new("x", tx)]));
    }
}
