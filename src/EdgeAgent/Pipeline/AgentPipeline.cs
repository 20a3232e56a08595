using System.Threading.Channels;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Share;

namespace EdgeMed.EdgeAgent.Pipeline;

/// <summary>
/// read → assemble → classify, joined by bounded channels: a slow stage makes the ones before it wait instead of
/// piling up decoded pixels, and one <see cref="SliceBudget"/> bounds the pixels held across all three. Fed by the share scanner (service) or a list of files (one-shot classification).
/// </summary>
public sealed class AgentPipeline(InstanceReader reader, SeriesClassifier classifier, AgentOptions options, Microsoft.Extensions.Logging.ILogger logger)
{
    /// <summary>Files waiting to be read.</summary>
    public const int FileQueueCapacity = 64;

    /// <summary>Instances read, waiting for the assembler.</summary>
    private const int InstanceQueueCapacity = 32;

    /// <summary>Completed series waiting for inference: each holds decoded pixels, so few.</summary>
    private const int SeriesQueueCapacity = 2;

    /// <summary>Creates the bounded channel the source writes file candidates to.</summary>
    public static Channel<FileCandidate> CreateFileQueue() =>
        Channel.CreateBounded<FileCandidate>(new BoundedChannelOptions(FileQueueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    /// <summary>Runs until <paramref name="files"/> completes and everything read is stored, or until cancelled.</summary>
    /// <param name="files">The source.</param>
    /// <param name="abandon">Hands a file back to the source to be offered again.</param>
    /// <param name="quietPeriod">Series quiet period; <see cref="Timeout.InfiniteTimeSpan"/> for a source that lists files folder by folder and ends: a series is complete when the source has moved on to another series in another folder, or ends.</param>
    /// <param name="cancellationToken">Stops every stage; work not stored is taken up again from the ledger at the next start.</param>
    public async Task RunAsync(ChannelReader<FileCandidate> files, Action<FileCandidate> abandon, TimeSpan quietPeriod, CancellationToken cancellationToken)
    {
        var instances = Channel.CreateBounded<ReadInstance>(new BoundedChannelOptions(InstanceQueueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true, SingleWriter = true });
        var series = Channel.CreateBounded<CompletedSeries>(new BoundedChannelOptions(SeriesQueueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true, SingleWriter = true });
        var budget = new SliceBudget((long)options.MaxBufferedMegabytes << 20);
        var assembler = new SeriesAssembler(quietPeriod, budget, logger);

        // Each stage completes its output when it ends, so the next one drains and ends too; a fault ends all of them.
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        async Task Stage(Func<Task> body, Action<Exception?>? complete)
        {
            try
            {
                await body().ConfigureAwait(false);
                complete?.Invoke(null);
            }
            catch (Exception e)
            {
                complete?.Invoke(e);
                await failed.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }

        var read = Stage(() => reader.RunAsync(files, instances.Writer, abandon, budget, failed.Token), e => instances.Writer.TryComplete(e));
        var assemble = Stage(() => assembler.RunAsync(instances.Reader, series.Writer, failed.Token), e => series.Writer.TryComplete(e));
        var classify = Stage(() => classifier.RunAsync(series.Reader, abandon, budget, failed.Token), null);
        await Task.WhenAll(read, assemble, classify).ConfigureAwait(false);
    }
}
