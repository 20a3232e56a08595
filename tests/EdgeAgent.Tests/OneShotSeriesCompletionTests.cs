using EdgeMed.EdgeAgent.Models;
using EdgeMed.EdgeAgent.Pipeline;
using EdgeMed.EdgeAgent.Share;
using Microsoft.Extensions.DependencyInjection;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// One-shot classification (no quiet period) lists files folder by folder: a series is complete once the source has
/// moved on to another series in another folder, so its inference overlaps reading the next folder instead of waiting
/// for the whole input (issue 14's pipeline gap). Real files, SQLite and ONNX Runtime, the pipeline fed by hand.
/// </summary>
public sealed class OneShotSeriesCompletionTests : IDisposable
{
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public async Task SeriesIsStored_WhenTheSourceMovesToAnotherSeriesInAnotherFolder_BeforeTheSourceEnds()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        _w.Drop(AgentWorkspace.GeSlices(3), "ge");
        _w.Drop(AgentWorkspace.PhilipsSlices(2), "philips");
        var philips = Directory.GetFiles(Path.Combine(_w.Share, "philips")).Order(StringComparer.Ordinal).ToList();

        await using var run = Start();
        await run.WriteAsync(Directory.GetFiles(Path.Combine(_w.Share, "ge")).Order(StringComparer.Ordinal));
        await run.WriteAsync(philips.Take(1));

        // The GE series is stored while the source is still open; before, nothing was stored until it ended.
        // Patience for reading and inference on a loaded machine; never waited out when it works.
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM series") == 1, TimeSpan.FromSeconds(120), "the first folder's series, stored before the source ends");
        Assert.Equal(3, _w.Count("SELECT slice_count FROM series"));

        await run.WriteAsync(philips.Skip(1));
        await run.EndAsync();
        Assert.Equal(2, _w.Count("SELECT count(*) FROM series"));
        Assert.Equal(0, _w.Count("SELECT count(*) FROM series WHERE updates <> 1")); // each stored once
    }

    [Fact]
    public async Task SeriesSpreadOverFoldersWithAnotherBetween_IsStoredInPartsWithItsSummaryOverAllOfThem()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var ge = AgentWorkspace.GeSlices(4);
        _w.Drop(ge.Take(2), "a-ge");
        _w.Drop(AgentWorkspace.PhilipsSlices(1), "b-philips");
        _w.Drop(ge.Skip(2), "c-ge");

        await using (var run = Start())
        {
            foreach (var folder in new[] { "a-ge", "b-philips", "c-ge" })
            {
                await run.WriteAsync(Directory.GetFiles(Path.Combine(_w.Share, folder)).Order(StringComparer.Ordinal));
            }

            await run.EndAsync();
        }

        var row = _w.Query("SELECT slice_count, updates FROM series ORDER BY slice_count DESC").First();
        Assert.Equal(4L, row["slice_count"]);
        Assert.Equal(2L, row["updates"]);
        Assert.Equal(5, _w.Count("SELECT count(*) FROM slices"));
        Assert.Equal(5, _w.Count("SELECT count(*) FROM files WHERE state = 'done'"));
    }

    private OneShotRun Start() => new(AgentHost.Build(AgentMode.Classify, null, new Dictionary<string, string?>
    {
        ["EdgeMed:Database"] = _w.Database, ["EdgeMed:Models"] = _w.Models, ["EdgeMed:Quarantine"] = _w.Quarantine, ["EdgeMed:IntraOpThreads"] = "1",
    }));

    /// <summary>The pipeline as <c>agent classify</c> runs it, fed file by file.</summary>
    private sealed class OneShotRun : IAsyncDisposable
    {
        private readonly Microsoft.Extensions.Hosting.IHost _host;
        private readonly System.Threading.Channels.Channel<FileCandidate> _queue = AgentPipeline.CreateFileQueue();
        private readonly Task _pipeline;

        public OneShotRun(Microsoft.Extensions.Hosting.IHost host)
        {
            _host = host;
            var models = host.Services.GetRequiredService<ModelCatalog>();
            models.Scan();
            Assert.NotNull(models.Current);
            _pipeline = host.Services.GetRequiredService<AgentPipeline>().RunAsync(_queue.Reader, _ => { }, Timeout.InfiniteTimeSpan, CancellationToken.None);
        }

        public async Task WriteAsync(IEnumerable<string> paths)
        {
            foreach (var info in paths.Select(p => new FileInfo(p)))
            {
                await _queue.Writer.WriteAsync(new FileCandidate(info.FullName, info.Length, new DateTimeOffset(info.LastWriteTimeUtc).ToUnixTimeMilliseconds()));
            }
        }

        public async Task EndAsync()
        {
            _queue.Writer.TryComplete();
            await _pipeline;
        }

        public async ValueTask DisposeAsync()
        {
            _queue.Writer.TryComplete();
            await _pipeline.ConfigureAwait(false);
            _host.Dispose();
        }
    }
}
