using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using static EdgeMed.EdgeAgent.Ledger.AgentDatabase;

namespace EdgeMed.EdgeAgent.Ledger;

/// <summary>Slice and series results (tables <c>slices</c> and <c>series</c>).</summary>
public sealed class ResultStore
{
    private const string SliceColumns = "s.file_id, s.sop_instance_uid, s.frame, s.tile, s.position, s.probabilities, s.predicted_class, s.max_probability, s.entropy, s.model_sha256";

    private readonly AgentDatabase _database;

    internal ResultStore(AgentDatabase database) => _database = database;

    /// <summary>
    /// Stores the slices of a series part, recomputes the series result from all of its stored slices and marks the
    /// files done, in one transaction: after a crash either all of it is there or none (and the files are read again).
    /// The series' result objects are recorded in the outbox, one per route, in the same transaction.
    /// </summary>
    public SeriesSummary StoreSeries(SeriesBatch batch, Func<IReadOnlyList<SliceResult>, SeriesSummary> summarize, IReadOnlyList<OutboxRoute>? routes = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(summarize);
        return _database.InTransaction((c, t) =>
        {
            var now = Now();
            foreach (var s in batch.Slices)
            {
                Execute(c,
                    """
                    INSERT OR REPLACE INTO slices(series_instance_uid, sop_instance_uid, frame, tile, file_id, position, predicted_class, max_probability, entropy, probabilities, model_sha256, classified_at, sop_class_uid)
                    VALUES($series, $sop, $frame, $tile, $file, $pos, $cls, $p, $h, $probs, $model, $now, $class)
                    """,
                    t, ("$series", batch.SeriesInstanceUid), ("$sop", s.SopInstanceUid), ("$class", batch.SopClasses?.GetValueOrDefault(s.SopInstanceUid) is { Length: > 0 } sopClass ? sopClass : null), ("$frame", s.Frame), ("$tile", s.Tile), ("$file", s.FileId),
                    ("$pos", s.Position), ("$cls", s.PredictedClass), ("$p", s.MaxProbability), ("$h", s.Entropy),
                    ("$probs", JsonSerializer.Serialize(s.Probabilities)), ("$model", s.ModelSha256), ("$now", now));
            }

            var all = ReadSlices(c, t, "WHERE series_instance_uid = $s ORDER BY position, sop_instance_uid, frame, tile", ("$s", batch.SeriesInstanceUid));
            var summary = summarize(all);
            Execute(c,
                """
                INSERT INTO series(series_instance_uid, study_instance_uid, modality, description, slice_count, predicted_class, max_probability, entropy, probabilities,
                  best_sop_instance_uid, best_frame, best_position, low_confidence, quality_flags, model_name, model_version, model_sha256, preprocessing_version,
                  read_ms, normalize_ms, inference_ms, latency_ms, classified_at, updates, source_module)
                VALUES($series, $study, $mod, $desc, $n, $cls, $p, $h, $probs, $bsop, $bframe, $bpos, $low, $flags, $mname, $mver, $msha, $pre, $rms, $nms, $ims, $lms, $now, 1, $module)
                ON CONFLICT(series_instance_uid) DO UPDATE SET slice_count = excluded.slice_count, predicted_class = excluded.predicted_class,
                  max_probability = excluded.max_probability, entropy = excluded.entropy, probabilities = excluded.probabilities,
                  best_sop_instance_uid = excluded.best_sop_instance_uid, best_frame = excluded.best_frame, best_position = excluded.best_position,
                  low_confidence = excluded.low_confidence, quality_flags = excluded.quality_flags, model_name = excluded.model_name,
                  model_version = excluded.model_version, model_sha256 = excluded.model_sha256, preprocessing_version = excluded.preprocessing_version,
                  read_ms = read_ms + excluded.read_ms, normalize_ms = normalize_ms + excluded.normalize_ms, inference_ms = inference_ms + excluded.inference_ms,
                  latency_ms = excluded.latency_ms, classified_at = excluded.classified_at, updates = updates + 1,
                  source_module = coalesce(excluded.source_module, source_module)
                """,
                t, ("$series", batch.SeriesInstanceUid), ("$study", batch.StudyInstanceUid), ("$mod", batch.Modality), ("$desc", batch.Description),
                ("$n", summary.SliceCount), ("$cls", summary.PredictedClass), ("$p", summary.MaxProbability), ("$h", summary.Entropy),
                ("$probs", JsonSerializer.Serialize(summary.Probabilities)), ("$bsop", summary.BestSlice.SopInstanceUid), ("$bframe", summary.BestSlice.Frame),
                ("$bpos", summary.BestSlice.Position), ("$low", summary.LowConfidence ? 1 : 0), ("$flags", summary.QualityFlags),
                ("$mname", batch.Model.Name), ("$mver", batch.Model.Version), ("$msha", batch.Model.Sha256), ("$pre", batch.Model.PreprocessingVersion),
                ("$rms", batch.ReadMs), ("$nms", batch.NormalizeMs), ("$ims", batch.InferenceMs), ("$lms", batch.LatencyMs), ("$now", now),
                ("$module", batch.SourceModule));
            if (batch.Heatmaps is { Count: > 0 } heatmaps)
            {
                // This part's maps join the series' earlier ones of the same class; the most confident N stay.
                Execute(c, "DELETE FROM heatmaps WHERE series_instance_uid = $s AND class <> $c", t, ("$s", batch.SeriesInstanceUid), ("$c", heatmaps[0].Class));
                foreach (var h in heatmaps)
                {
                    Execute(c, "INSERT OR REPLACE INTO heatmaps VALUES($s, $sop, $frame, $tile, $cls, $p, $path, $now)", t,
                        ("$s", batch.SeriesInstanceUid), ("$sop", h.SopInstanceUid), ("$frame", h.Frame), ("$tile", h.Tile), ("$cls", h.Class), ("$p", h.Probability), ("$path", h.Path), ("$now", now));
                }

                Execute(c,
                    """
                    DELETE FROM heatmaps WHERE series_instance_uid = $s AND rowid NOT IN
                      (SELECT rowid FROM heatmaps WHERE series_instance_uid = $s ORDER BY probability DESC, sop_instance_uid, frame, tile LIMIT $n)
                    """, t, ("$s", batch.SeriesInstanceUid), ("$n", Math.Max(batch.KeepHeatmaps, heatmaps.Count)));
            }

            foreach (var id in batch.FileIds)
            {
                Execute(c, $"UPDATE files SET state = '{FileStates.Done}', attempts = 0, reason = NULL, detail = NULL, updated_at = $now WHERE id = $id", t, ("$now", now), ("$id", id));
            }

            if (routes is { Count: > 0 })
            {
                var version = Convert.ToInt64(Scalar(c, "SELECT updates FROM series WHERE series_instance_uid = $s", t, ("$s", batch.SeriesInstanceUid)), CultureInfo.InvariantCulture);
                OutboxLedger.Enqueue(c, t, batch.SeriesInstanceUid, version, routes, now);
            }

            return summary;
        });
    }

    /// <summary>The heatmap paths (relative) a series has.</summary>
    public IReadOnlyList<string> HeatmapPaths(string seriesInstanceUid) => _database.Locked(c => Query(c,
        "SELECT path FROM heatmaps WHERE series_instance_uid = $s", null, r => r.GetString(0), ("$s", seriesInstanceUid)));

    /// <summary>Sum of each class's probability over the series' stored slices, and their count (the series class before a part is stored).</summary>
    public (Dictionary<string, double> Sums, int Count) ProbabilitySums(string seriesInstanceUid) => _database.Locked(c =>
    {
        var rows = Query(c, "SELECT p.key, sum(p.value), count(*) FROM slices s, json_each(s.probabilities) p WHERE s.series_instance_uid = $s GROUP BY p.key",
            null, r => (Class: r.GetString(0), Sum: r.GetDouble(1), Count: r.GetInt32(2)), ("$s", seriesInstanceUid));
        return (rows.ToDictionary(r => r.Class, r => r.Sum, StringComparer.Ordinal), rows.Count == 0 ? 0 : rows.Max(r => r.Count));
    });

    /// <summary>Stored slices with their file paths, oldest first, optionally since a time or for some files only.</summary>
    public IReadOnlyList<(string Path, string SeriesInstanceUid, SliceResult Slice, string ClassifiedAt)> SliceRows(DateTimeOffset? since = null, IReadOnlyCollection<long>? fileIds = null)
    {
        var where = since is null ? "1 = 1" : "s.classified_at >= $since";
        if (fileIds is not null)
        {
            where += fileIds.Count == 0 ? " AND 0" : $" AND s.file_id IN ({string.Join(',', fileIds.Select(i => i.ToString(CultureInfo.InvariantCulture)))})";
        }

        return _database.Locked(c => Query(c,
            $"SELECT f.path, s.series_instance_uid, s.classified_at, {SliceColumns} FROM slices s JOIN files f ON f.id = s.file_id WHERE {where} ORDER BY s.classified_at, s.series_instance_uid, s.position, s.sop_instance_uid, s.frame, s.tile",
            null, r => (r.GetString(0), r.GetString(1), ReadSlice(r, 3), r.GetString(2)), ("$since", since is { } t ? Format(t) : null)));
    }

    /// <summary>Series results as column name → value rows, newest first, optionally since a time (without <see cref="Hidden"/> columns).</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, object?>> SeriesRows(DateTimeOffset? since = null) => _database.Locked(c => Query(c,
        "SELECT * FROM series WHERE $since IS NULL OR classified_at >= $since ORDER BY classified_at DESC, series_instance_uid",
        null, Shown, ("$since", since is { } t ? Format(t) : null)));

    /// <summary>The columns of <see cref="SeriesRows"/>, in table order (known even when there are no rows).</summary>
    public IReadOnlyList<string> SeriesColumns() => _database.Locked(c => Query(c,
        "SELECT name FROM pragma_table_info('series') ORDER BY cid", null, r => r.GetString(0))).Where(n => n != Hidden).ToList();

    /// <summary>
    /// One series with what its result objects copy and reference (its source's patient and study elements and its
    /// instances' SOP classes), or null.
    /// </summary>
    public StoredSeries? Stored(string seriesInstanceUid) => _database.Locked(c =>
    {
        var row = Query(c, "SELECT * FROM series WHERE series_instance_uid = $s", null, AsDictionary, ("$s", seriesInstanceUid)).FirstOrDefault();
        if (row is null)
        {
            return null;
        }

        var instances = Query(c,
            "SELECT sop_instance_uid, max(sop_class_uid), min(position) AS at, count(DISTINCT frame) FROM slices WHERE series_instance_uid = $s GROUP BY sop_instance_uid ORDER BY at, sop_instance_uid",
            null, r => (r.IsDBNull(1) ? null : r.GetString(1), r.GetString(0), r.GetInt64(3) > 1), ("$s", seriesInstanceUid));
        var module = row[Hidden] as byte[];
        var installation = Convert.ToString(Scalar(c, "SELECT id FROM installation"), CultureInfo.InvariantCulture) ?? string.Empty;
        var heatmaps = Query(c, "SELECT sop_instance_uid, frame, tile, class, probability, path FROM heatmaps WHERE series_instance_uid = $s", null,
            r => new HeatmapRecord(r.GetString(0), r.GetInt32(1), r.GetInt32(2), r.GetString(3), r.GetDouble(4), r.GetString(5)), ("$s", seriesInstanceUid));
        return new StoredSeries(row.Where(p => p.Key != Hidden).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal), module, instances, installation, heatmaps);
    });

    /// <summary>Series classified since <paramref name="since"/>, and how many of them with low confidence.</summary>
    public (long Series, long LowConfidence) CountSeries(DateTimeOffset since) => _database.Locked(c => Query(c,
        "SELECT count(*), coalesce(sum(low_confidence), 0) FROM series WHERE classified_at >= $since", null, r => (r.GetInt64(0), r.GetInt64(1)), ("$since", Format(since))).Single());

    /// <summary>Slices stored, all series.</summary>
    public long CountSlices() => _database.Locked(c => Convert.ToInt64(Scalar(c, "SELECT count(*) FROM slices"), CultureInfo.InvariantCulture));

    /// <summary>The column with the source's identifying elements: only result objects read it, never the CLI.</summary>
    private const string Hidden = "source_module";

    private static IReadOnlyDictionary<string, object?> Shown(SqliteDataReader reader) =>
        AsDictionary(reader).Where(p => p.Key != Hidden).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    private static List<SliceResult> ReadSlices(SqliteConnection connection, SqliteTransaction transaction, string where, params (string Name, object? Value)[] parameters) =>
        Query(connection, $"SELECT {SliceColumns} FROM slices s {where}", transaction, r => ReadSlice(r, 0), parameters);

    private static SliceResult ReadSlice(SqliteDataReader reader, int first) => new(
        reader.GetInt64(first), reader.GetString(first + 1), reader.GetInt32(first + 2), reader.GetInt32(first + 3),
        reader.IsDBNull(first + 4) ? null : reader.GetDouble(first + 4),
        JsonSerializer.Deserialize<Dictionary<string, double>>(reader.GetString(first + 5)) ?? [],
        reader.GetString(first + 6), reader.GetDouble(first + 7), reader.GetDouble(first + 8), reader.GetString(first + 9));
}
