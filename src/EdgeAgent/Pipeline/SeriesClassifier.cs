using System.Diagnostics;
using System.Threading.Channels;
using EdgeMed.DicomIngest.Slices;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Explain;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Models;
using EdgeMed.EdgeAgent.Operations;
using EdgeMed.EdgeAgent.Share;
using Microsoft.Extensions.Logging;

namespace EdgeMed.EdgeAgent.Pipeline;

/// <summary>
/// The inference stage: normalizes the slices of a completed series with the model's own preprocessing, runs them in
/// batches, and stores slice and series results with the files' state in one transaction. The model is held for the
/// whole series, so a swap never splits one series between two models.
/// </summary>
/// <param name="database">Where results are stored.</param>
/// <param name="models">The model catalog.</param>
/// <param name="options">The agent's settings.</param>
/// <param name="health">What the lights and STATUS show.</param>
/// <param name="logger">The stage's log.</param>
/// <param name="routes">The result objects each stored series records in the outbox (the service's; none for <c>agent classify</c>).</param>
public sealed class SeriesClassifier(AgentDatabase database, ModelCatalog models, AgentOptions options, AgentHealth health, ILogger logger, IReadOnlyList<OutboxRoute> routes)
{
    /// <summary>Classifies series until <paramref name="input"/> completes.</summary>
    public async Task RunAsync(ChannelReader<CompletedSeries> input, Action<FileCandidate> abandon, SliceBudget budget, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(abandon);
        ArgumentNullException.ThrowIfNull(budget);
        await foreach (var series in input.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                await ClassifyAsync(series, abandon, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                budget.Give(series.Bytes);
            }
        }
    }

    /// <summary>Classifies and stores one series; returns its summary, or null when it failed (its files are read again later).</summary>
    public async Task<SeriesSummary?> ClassifyAsync(CompletedSeries series, Action<FileCandidate> abandon, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(abandon);
        using var lease = await models.AcquireAsync(cancellationToken).ConfigureAwait(false); // waiting for a model is not a stall
        using var working = health.Working(AgentStages.Classify);
        var model = lease.Model;
        var fileIds = series.Instances.Select(i => i.FileId).ToList();
        var crashes = database.Inference.Begin(series.SeriesInstanceUid, MachineBoot.Id); // committed first: a death from here on is counted
        if (crashes >= options.MaxInferenceCrashes)
        {
            QuarantineInPlace(series, fileIds, FileReasons.InferenceCrashed, $"the agent died {crashes} times classifying this series (out of memory, a native fault, or the watchdog); left in place");
            return null;
        }

        try
        {
            var summary = Classify(series, model, fileIds, cancellationToken);
            database.Inference.End(series.SeriesInstanceUid);
            health.SeriesStoredNow();
            if (summary.LowConfidence || summary.QualityFlags.Length > 0)
            {
                health.RaiseAlert(options.Lights.AlertHold);
            }

            return summary;
        }
        catch (OperationCanceledException)
        {
            database.Inference.End(series.SeriesInstanceUid); // a clean stop is no crash
            throw;
        }
        catch (ModelOutputNotFiniteException)
        {
            // The same model gives the same scores again: not retried, not the files' fault, not the agent's end.
            QuarantineInPlace(series, fileIds, FileReasons.ModelOutputNotFinite, $"model {model.Identity.Name} {model.Identity.Version} returned NaN or infinite scores for this series; left in place (after a model update: agent quarantine retry)");
            return null;
        }
        catch (Exception e) when (e is Onnx.Runtime.OnnxRuntimeException or IOException)
        {
            // This series failed, not the agent: leave its files to be read again. A database that refuses writes past
            // its patience is not caught: the stage fails and the agent exits for systemd to restart it.
            database.Inference.End(series.SeriesInstanceUid);
            health.StorageFailed = e is IOException;
            Log.SeriesFailed(logger, new ShortUid(series.SeriesInstanceUid), e.Message);
            foreach (var instance in series.Instances)
            {
                database.Files.SetState(instance.FileId, FileStates.Queued, FileReasons.SeriesFailed, e.Message);
                abandon(instance.Candidate);
            }

            return null;
        }
    }

    /// <summary>Quarantines a series as one unit, its files left where they are (<c>agent quarantine retry</c> takes them again).</summary>
    private void QuarantineInPlace(CompletedSeries series, List<long> fileIds, string reason, string detail)
    {
        foreach (var id in fileIds)
        {
            database.Files.SetState(id, FileStates.Quarantined, reason, detail, quarantinePath: string.Empty);
        }

        database.Inference.End(series.SeriesInstanceUid);
        health.RaiseAlert(options.Lights.AlertHold);
        Log.SeriesFailed(logger, new ShortUid(series.SeriesInstanceUid), reason);
    }

    private SeriesSummary Classify(CompletedSeries series, LoadedModel model, List<long> fileIds, CancellationToken cancellationToken)
    {
        var slices = series.Instances
            .SelectMany(i => i.Slices.Select(s => (Instance: i, Slice: s)))
            .OrderBy(x => x.Slice.Location ?? double.MaxValue).ThenBy(x => x.Slice.SopInstanceUid, StringComparer.Ordinal).ThenBy(x => x.Slice.Frame).ThenBy(x => x.Slice.Tile)
            .ToList();
        var results = new List<SliceResult>(slices.Count);
        var normalizeTicks = 0L;
        var inferenceTicks = 0L;
        var length = model.Normalizer.OutputLength;
        List<HeatmapRecord>? heatmaps;
        using (health.BeginInference())
        {
            for (var start = 0; start < slices.Count; start += model.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var count = Math.Min(model.BatchSize, slices.Count - start);
                var t0 = Stopwatch.GetTimestamp();
                for (var b = 0; b < count; b++)
                {
                    model.Normalizer.Normalize(slices[start + b].Slice, model.Runner.Sample(b));
                }

                var t1 = Stopwatch.GetTimestamp();
                var logits = model.Run(count, cancellationToken);
                var t2 = Stopwatch.GetTimestamp();
                if (!LoadedModel.AllFinite(logits.AsSpan(0, count * model.Classes.Count)))
                {
                    throw new ModelOutputNotFiniteException();
                }

                normalizeTicks += t1 - t0;
                inferenceTicks += t2 - t1;
                health.Progressed(AgentStages.Classify);
                var classes = model.Classes;
                for (var b = 0; b < count; b++)
                {
                    var (instance, slice) = slices[start + b];
                    var p = SeriesVerdict.Softmax(logits.AsSpan(b * classes.Count, classes.Count));
                    var top = Array.IndexOf(p, p.Max());
                    results.Add(new SliceResult(
                        instance.FileId, slice.SopInstanceUid, slice.Frame, slice.Tile, slice.Location,
                        classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => p[x.i], StringComparer.Ordinal),
                        classes[top], p[top], SeriesVerdict.Entropy(p), model.Identity.Sha256));
                }
            }

            heatmaps = Heatmaps(series.SeriesInstanceUid, slices, results, model, cancellationToken);
        }

        var first = series.Instances[0].Metadata;
        var batch = new SeriesBatch(
            series.SeriesInstanceUid, first.StudyInstanceUid, first.Modality, first.SeriesDescription, fileIds, results, model.Identity,
            series.Instances.Sum(i => i.ReadMs), Milliseconds(normalizeTicks), Milliseconds(inferenceTicks),
            Stopwatch.GetElapsedTime(series.Instances.Min(i => i.ArrivedAt)).TotalMilliseconds + series.Instances.Max(i => i.ReadMs),
            series.Instances.GroupBy(i => i.Metadata.SopInstanceUid, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Metadata.SopClassUid, StringComparer.Ordinal),
            first.SourceModule, heatmaps, options.HeatmapSlices);
        var summary = database.Results.StoreSeries(batch, all => SeriesVerdict.Summarize(series.SeriesInstanceUid, model.Classes, all, options.MinConfidence, options.MaxNormalizedEntropy, options.MinSeriesSlices), routes);
        health.StorageFailed = false;
        if (heatmaps is not null)
        {
            SweepHeatmaps(series.SeriesInstanceUid);
        }

        Log.SeriesClassified(logger, new ShortUid(series.SeriesInstanceUid), summary.SliceCount, results.Count, summary.PredictedClass, summary.MaxProbability,
            summary.LowConfidence, summary.QualityFlags.Length == 0 ? "none" : summary.QualityFlags, batch.NormalizeMs, batch.InferenceMs, model.Identity.Name);
        return summary;
    }

    /// <summary>
    /// Heatmaps of this part's slices most confident of the series class (over the slices stored before and this
    /// part), each run once more for its feature map; null when off, not possible or failed: heatmaps are an extra, and
    /// a failure here (a folder not writable, a full disk) is logged, never the series' end.
    /// </summary>
    private List<HeatmapRecord>? Heatmaps(string seriesUid, List<(ReadInstance Instance, Slice Slice)> slices, List<SliceResult> results, LoadedModel model, CancellationToken cancellationToken)
    {
        if (model.Explainer is null || options.HeatmapSlices == 0 || results.Count == 0)
        {
            return null;
        }

        try
        {
            return WriteHeatmaps(seriesUid, slices, results, model, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.HeatmapsFailed(logger, new ShortUid(seriesUid), LogSafe.Error(e));
            return null;
        }
    }

    private void SweepHeatmaps(string seriesUid)
    {
        try
        {
            new HeatmapWriter(options.Heatmaps).Sweep(seriesUid, [.. database.Results.HeatmapPaths(seriesUid)]);
        }
        catch (IOException e)
        {
            Log.HeatmapsFailed(logger, new ShortUid(seriesUid), LogSafe.Error(e));
        }
    }

    private List<HeatmapRecord> WriteHeatmaps(string seriesUid, List<(ReadInstance Instance, Slice Slice)> slices, List<SliceResult> results, LoadedModel model, CancellationToken cancellationToken)
    {
        var explainer = model.Explainer!;
        var started = Stopwatch.GetTimestamp();
        var (sums, stored) = database.Results.ProbabilitySums(seriesUid);
        var target = model.Classes.Select((c, i) => (Mean: (sums.GetValueOrDefault(c) + results.Sum(r => r.Probabilities[c])) / (stored + results.Count), Index: i)).MaxBy(x => x.Mean).Index;
        var name = model.Classes[target];
        var chosen = results.Select((r, i) => (Result: r, Index: i)).OrderByDescending(x => x.Result.Probabilities[name]).Take(options.HeatmapSlices).ToList();
        var writer = new HeatmapWriter(options.Heatmaps);
        var records = new List<HeatmapRecord>(chosen.Count);
        for (var start = 0; start < chosen.Count; start += model.BatchSize)
        {
            var count = Math.Min(model.BatchSize, chosen.Count - start);
            for (var b = 0; b < count; b++)
            {
                model.Normalizer.Normalize(slices[chosen[start + b].Index].Slice, model.Runner.Sample(b));
            }

            var (_, maps, height, width) = model.RunExplained(count, cancellationToken);
            var area = explainer.Channels * height * width;
            for (var b = 0; b < count; b++)
            {
                var r = chosen[start + b].Result;
                var map = GradCam.Upsample(explainer.Map(maps.AsSpan(b * area, area), height, width, target), height, width, model.Settings.Size);
                var path = writer.Write(seriesUid, r.SopInstanceUid, r.Frame, r.Tile, model.Runner.Sample(b), map, model.Settings);
                records.Add(new HeatmapRecord(r.SopInstanceUid, r.Frame, r.Tile, name, r.Probabilities[name], path));
            }
        }

        var milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        Log.HeatmapsWritten(logger, new ShortUid(seriesUid), records.Count, name, milliseconds);
        return records;
    }

    private static double Milliseconds(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    /// <summary>The model's scores for a batch were NaN or infinite (caught in <see cref="ClassifyAsync"/>).</summary>
    private sealed class ModelOutputNotFiniteException : Exception
    {
    }
}
