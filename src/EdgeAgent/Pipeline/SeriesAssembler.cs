using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace EdgeMed.EdgeAgent.Pipeline;

/// <summary>
/// Groups read instances by series UID. A series is complete when none of its instances has arrived for the quiet
/// period. With no quiet period (one-shot classification, whose source lists files folder by folder) a series is
/// complete when an instance of another series arrives from another folder, so inference of one folder's series
/// overlaps reading the next; a series spread over folders then comes in parts. When the input completes every series
/// is complete. Decoded pixels are bounded
/// by the <see cref="SliceBudget"/>: when the series waiting here hold more than half of it, the oldest is passed on
/// early (so inference can work on one part while the next gathers) and its later instances form a later part
/// (stored results are recomputed over all parts).
/// </summary>
public sealed class SeriesAssembler(TimeSpan quietPeriod, SliceBudget budget, ILogger logger)
{
    private readonly Dictionary<string, (List<ReadInstance> Instances, long LastArrival, string? Folder)> _pending = new(StringComparer.Ordinal);
    private long _buffered;

    /// <summary>Runs until <paramref name="input"/> completes (then flushes everything) or cancellation.</summary>
    public async Task RunAsync(ChannelReader<ReadInstance> input, ChannelWriter<CompletedSeries> output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        while (true)
        {
            await EmitDueAsync(output, cancellationToken).ConfigureAwait(false);
            bool more;
            var wait = NextDeadline();
            if (wait is null)
            {
                more = await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(wait.Value);
                try
                {
                    more = await input.WaitToReadAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    continue; // a quiet period ended
                }
            }

            if (!more)
            {
                foreach (var uid in _pending.Keys.ToList())
                {
                    await EmitAsync(uid, output, cancellationToken).ConfigureAwait(false);
                }

                return;
            }

            while (input.TryRead(out var instance))
            {
                var uid = instance.Metadata.SeriesInstanceUid!;
                var folder = quietPeriod == Timeout.InfiniteTimeSpan ? Path.GetDirectoryName(instance.Candidate.Path) : null;
                if (folder is not null)
                {
                    // The source has left the folders of the other series waiting here: nothing more of them comes.
                    foreach (var done in _pending.Where(p => p.Key != uid && p.Value.Folder != folder).Select(p => p.Key).ToList())
                    {
                        await EmitAsync(done, output, cancellationToken).ConfigureAwait(false);
                    }
                }

                if (!_pending.TryGetValue(uid, out var entry))
                {
                    entry = ([], 0, null);
                }

                entry.Instances.Add(instance);
                _pending[uid] = (entry.Instances, Stopwatch.GetTimestamp(), folder);
                _buffered += instance.Bytes;
            }

            while (_buffered > budget.Limit / 2 && _pending.Count > 0)
            {
                var oldest = _pending.MinBy(p => p.Value.LastArrival).Key;
                Log.SeriesFlushedEarly(logger, new ShortUid(oldest), _buffered / (1024.0 * 1024), budget.Limit >> 20);
                await EmitAsync(oldest, output, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private TimeSpan? NextDeadline()
    {
        if (_pending.Count == 0 || quietPeriod == Timeout.InfiniteTimeSpan)
        {
            return null;
        }

        var oldest = _pending.Values.Min(p => p.LastArrival);
        var left = quietPeriod - Stopwatch.GetElapsedTime(oldest);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private async Task EmitDueAsync(ChannelWriter<CompletedSeries> output, CancellationToken cancellationToken)
    {
        if (quietPeriod == Timeout.InfiniteTimeSpan)
        {
            return;
        }

        foreach (var uid in _pending.Where(p => Stopwatch.GetElapsedTime(p.Value.LastArrival) >= quietPeriod).Select(p => p.Key).ToList())
        {
            await EmitAsync(uid, output, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task EmitAsync(string uid, ChannelWriter<CompletedSeries> output, CancellationToken cancellationToken)
    {
        var (instances, _, _) = _pending[uid];
        _pending.Remove(uid);
        var series = new CompletedSeries(uid, instances);
        _buffered -= series.Bytes;
        await output.WriteAsync(series, cancellationToken).ConfigureAwait(false);
    }
}
