using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace EdgeMed.EdgeAgent.Ledger;

/// <summary>
/// The agent's one SQLite file: the ledger of every file seen, the results, the models and a small status table.
/// WAL journal with <c>synchronous=FULL</c>: every commit is fsynced before it returns, so a result or state change
/// that was logged survives a power cut (NORMAL may lose the last commits, which would re-classify work already
/// reported). Commits happen per file and per series, a few per second at most, so the fsyncs cost little.
/// One connection behind a lock: stages call in from several threads and every call is short.
/// </summary>
public sealed class AgentDatabase : IDisposable
{
    /// <summary>Schema migrations, in order; the schema version is <c>PRAGMA user_version</c> = how many have run.</summary>
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE files(
          id INTEGER PRIMARY KEY,
          path TEXT NOT NULL, size INTEGER NOT NULL, modified_ms INTEGER NOT NULL,
          sha256 TEXT, sop_instance_uid TEXT, series_instance_uid TEXT,
          state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, reason TEXT, detail TEXT, quarantine_path TEXT,
          first_seen TEXT NOT NULL, updated_at TEXT NOT NULL);
        CREATE UNIQUE INDEX files_version ON files(path, size, modified_ms);
        CREATE INDEX files_sha256 ON files(sha256);
        CREATE INDEX files_sop ON files(sop_instance_uid);
        CREATE INDEX files_state ON files(state, updated_at);
        CREATE TABLE slices(
          id INTEGER PRIMARY KEY,
          series_instance_uid TEXT NOT NULL, sop_instance_uid TEXT NOT NULL, frame INTEGER NOT NULL, tile INTEGER NOT NULL,
          file_id INTEGER NOT NULL REFERENCES files(id), position REAL,
          predicted_class TEXT NOT NULL, max_probability REAL NOT NULL, entropy REAL NOT NULL, probabilities TEXT NOT NULL,
          model_sha256 TEXT NOT NULL, classified_at TEXT NOT NULL,
          UNIQUE(sop_instance_uid, frame, tile));
        CREATE INDEX slices_series ON slices(series_instance_uid);
        CREATE INDEX slices_time ON slices(classified_at);
        CREATE TABLE series(
          series_instance_uid TEXT PRIMARY KEY, study_instance_uid TEXT, modality TEXT, description TEXT,
          slice_count INTEGER NOT NULL, predicted_class TEXT NOT NULL, max_probability REAL NOT NULL, entropy REAL NOT NULL,
          probabilities TEXT NOT NULL, best_sop_instance_uid TEXT NOT NULL, best_frame INTEGER NOT NULL, best_position REAL,
          low_confidence INTEGER NOT NULL, quality_flags TEXT NOT NULL,
          model_name TEXT NOT NULL, model_version TEXT NOT NULL, model_sha256 TEXT NOT NULL, preprocessing_version TEXT NOT NULL,
          read_ms REAL NOT NULL, normalize_ms REAL NOT NULL, inference_ms REAL NOT NULL, latency_ms REAL NOT NULL,
          classified_at TEXT NOT NULL, updates INTEGER NOT NULL);
        CREATE TABLE models(
          sha256 TEXT NOT NULL, folder TEXT NOT NULL, name TEXT, version TEXT, arch TEXT, precision TEXT, classes TEXT,
          preprocessing_version TEXT, state TEXT NOT NULL, reason TEXT, updated_at TEXT NOT NULL,
          PRIMARY KEY(sha256, folder));
        CREATE TABLE agent_status(key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
        """,
    ];

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    private AgentDatabase(SqliteConnection connection, string path)
    {
        _connection = connection;
        FilePath = path;
    }

    /// <summary>The database file.</summary>
    public string FilePath { get; }

    /// <summary>The schema version this build writes.</summary>
    public static int SchemaVersion => Migrations.Length;

    /// <summary>Opens (creating if needed) and migrates the database.</summary>
    /// <exception cref="InvalidOperationException">The file was written by a newer EdgeMed, or is not a database.</exception>
    public static AgentDatabase Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Pooling = false }.ToString());
        try
        {
            connection.Open();
            Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;");
            Migrate(connection, full);
            return new AgentDatabase(connection, full);
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            throw new InvalidOperationException($"{full} is not a usable EdgeMed database: {e.Message}", e);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static void Migrate(SqliteConnection connection, string path)
    {
        var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version"), CultureInfo.InvariantCulture);
        if (version > Migrations.Length)
        {
            throw new InvalidOperationException($"{path} has schema version {version}, newer than this EdgeMed's {Migrations.Length}; use a newer EdgeMed or another database.");
        }

        for (var v = version; v < Migrations.Length; v++)
        {
            using var transaction = connection.BeginTransaction();
            Execute(connection, Migrations[v], transaction);
            Execute(connection, $"PRAGMA user_version = {v + 1}", transaction);
            transaction.Commit();
        }
    }

    // ---- files ----

    /// <summary>The ledger row of this version of a file, if it was seen.</summary>
    public FileRecord? FindFile(string path, long size, long modifiedMs)
    {
        lock (_lock)
        {
            return QueryFiles("WHERE path = $p AND size = $s AND modified_ms = $m", ("$p", path), ("$s", size), ("$m", modifiedMs)).FirstOrDefault();
        }
    }

    /// <summary>One file by id.</summary>
    public FileRecord? GetFile(long id)
    {
        lock (_lock)
        {
            return QueryFiles("WHERE id = $id", ("$id", id)).FirstOrDefault();
        }
    }

    /// <summary>Records a file version as queued, or returns its row if it was seen before.</summary>
    public FileRecord RegisterFile(string path, long size, long modifiedMs)
    {
        lock (_lock)
        {
            var now = Now();
            Execute(_connection, "INSERT OR IGNORE INTO files(path, size, modified_ms, state, first_seen, updated_at) VALUES($p, $s, $m, 'queued', $now, $now)",
                null, ("$p", path), ("$s", size), ("$m", modifiedMs), ("$now", now));
            return QueryFiles("WHERE path = $p AND size = $s AND modified_ms = $m", ("$p", path), ("$s", size), ("$m", modifiedMs)).Single();
        }
    }

    /// <summary>
    /// Counts one more attempt on a file and stores its content hash, committed before any work on it starts, so a
    /// crash during that work leaves it counted. Returns the attempts now recorded.
    /// </summary>
    public int BeginAttempt(long id, string sha256)
    {
        lock (_lock)
        {
            Execute(_connection, "UPDATE files SET attempts = attempts + 1, sha256 = $h, updated_at = $now WHERE id = $id", null, ("$h", sha256), ("$now", Now()), ("$id", id));
            return Convert.ToInt32(Scalar(_connection, "SELECT attempts FROM files WHERE id = $id", ("$id", id)), CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Takes back an attempt that ended without a crash and without an outcome (the share went away, shutdown).</summary>
    public void EndAttempt(long id)
    {
        lock (_lock)
        {
            Execute(_connection, "UPDATE files SET attempts = max(attempts - 1, 0), updated_at = $now WHERE id = $id", null, ("$now", Now()), ("$id", id));
        }
    }

    /// <summary>Another file (not quarantined, not a duplicate) with the same content, if any.</summary>
    public FileRecord? FindSameContent(long id, string sha256)
    {
        lock (_lock)
        {
            return QueryFiles("WHERE sha256 = $h AND id <> $id AND state NOT IN ('quarantined', 'duplicate') ORDER BY id LIMIT 1", ("$h", sha256), ("$id", id)).FirstOrDefault();
        }
    }

    /// <summary>
    /// Marks a file read (its slices go on to the series assembler) unless another file already brought the same SOP
    /// instance, in which case it is marked a duplicate and false is returned. The read attempt ends here.
    /// </summary>
    public bool MarkRead(long id, string sopInstanceUid, string seriesInstanceUid)
    {
        lock (_lock)
        {
            using var transaction = _connection.BeginTransaction();
            var other = Scalar(_connection, "SELECT id FROM files WHERE sop_instance_uid = $u AND id <> $id AND state IN ('read', 'done') LIMIT 1", transaction, ("$u", sopInstanceUid), ("$id", id));
            var now = Now();
            if (other is not null)
            {
                Execute(_connection, "UPDATE files SET state = 'duplicate', reason = 'sop-instance-seen', detail = $d, sop_instance_uid = $u, series_instance_uid = $s, attempts = 0, updated_at = $now WHERE id = $id",
                    transaction, ("$d", $"same SOP instance as file {other}"), ("$u", sopInstanceUid), ("$s", seriesInstanceUid), ("$now", now), ("$id", id));
                transaction.Commit();
                return false;
            }

            Execute(_connection, "UPDATE files SET state = 'read', sop_instance_uid = $u, series_instance_uid = $s, attempts = max(attempts - 1, 0), updated_at = $now WHERE id = $id",
                transaction, ("$u", sopInstanceUid), ("$s", seriesInstanceUid), ("$now", now), ("$id", id));
            transaction.Commit();
            return true;
        }
    }

    /// <summary>Sets a terminal or queued state with its reason.</summary>
    public void SetState(long id, string state, string? reason, string? detail, string? quarantinePath = null, string? sopInstanceUid = null, string? seriesInstanceUid = null)
    {
        lock (_lock)
        {
            Execute(_connection,
                """
                UPDATE files SET state = $st, reason = $r, detail = $d, quarantine_path = coalesce($q, quarantine_path),
                  sop_instance_uid = coalesce($u, sop_instance_uid), series_instance_uid = coalesce($s, series_instance_uid),
                  attempts = CASE WHEN $st IN ('queued', 'quarantined') THEN attempts ELSE 0 END, updated_at = $now
                WHERE id = $id
                """,
                null, ("$st", state), ("$r", reason), ("$d", detail), ("$q", quarantinePath), ("$u", sopInstanceUid), ("$s", seriesInstanceUid), ("$now", Now()), ("$id", id));
        }
    }

    /// <summary>Counts an attempt on every file of a series before inference starts (a crash in inference counts).</summary>
    public void BeginInference(IReadOnlyList<long> fileIds) => AddAttempts(fileIds, +1);

    /// <summary>Takes back the inference attempt of files whose series was not finished (shutdown).</summary>
    public void EndInference(IReadOnlyList<long> fileIds) => AddAttempts(fileIds, -1);

    private void AddAttempts(IReadOnlyList<long> fileIds, int delta)
    {
        lock (_lock)
        {
            using var transaction = _connection.BeginTransaction();
            foreach (var id in fileIds)
            {
                Execute(_connection, "UPDATE files SET attempts = max(attempts + $d, 0) WHERE id = $id", transaction, ("$d", delta), ("$id", id));
            }

            transaction.Commit();
        }
    }

    /// <summary>How many files are not finished: what a restarted agent takes up again.</summary>
    public long CountUnfinished()
    {
        lock (_lock)
        {
            return Convert.ToInt64(Scalar(_connection, "SELECT count(*) FROM files WHERE state IN ('queued', 'read')"), CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Quarantined files, newest first.</summary>
    public IReadOnlyList<FileRecord> QuarantinedFiles()
    {
        lock (_lock)
        {
            return QueryFiles("WHERE state = 'quarantined' ORDER BY updated_at DESC, id DESC");
        }
    }

    /// <summary>Files by path (the latest version of each).</summary>
    public IReadOnlyList<FileRecord> FilesByPath(IReadOnlyCollection<string> paths)
    {
        lock (_lock)
        {
            var found = new List<FileRecord>();
            foreach (var path in paths)
            {
                found.AddRange(QueryFiles("WHERE path = $p ORDER BY id DESC LIMIT 1", ("$p", path)));
            }

            return found;
        }
    }

    /// <summary>Puts a quarantined file back in the queue (after <c>agent quarantine retry</c> moved it back) and tells a running agent to look again.</summary>
    public void ResetForRetry(long id)
    {
        lock (_lock)
        {
            using var transaction = _connection.BeginTransaction();
            Execute(_connection, "UPDATE files SET state = 'queued', attempts = 0, reason = 'retry', detail = NULL, quarantine_path = NULL, updated_at = $now WHERE id = $id AND state = 'quarantined'",
                transaction, ("$now", Now()), ("$id", id));
            Execute(_connection, "INSERT INTO agent_status(key, value, updated_at) VALUES('retry_generation', '1', $now) ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1, updated_at = excluded.updated_at",
                transaction, ("$now", Now()));
            transaction.Commit();
        }
    }

    // ---- results ----

    /// <summary>
    /// Stores the slices of a series part, recomputes the series result from all of its stored slices and marks the
    /// files done, in one transaction: after a crash either all of it is there or none (and the files are read again).
    /// </summary>
    public SeriesSummary StoreSeries(SeriesBatch batch, Func<IReadOnlyList<SliceResult>, SeriesSummary> summarize)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(summarize);
        lock (_lock)
        {
            using var transaction = _connection.BeginTransaction();
            var now = Now();
            foreach (var s in batch.Slices)
            {
                Execute(_connection,
                    """
                    INSERT OR REPLACE INTO slices(series_instance_uid, sop_instance_uid, frame, tile, file_id, position, predicted_class, max_probability, entropy, probabilities, model_sha256, classified_at)
                    VALUES($series, $sop, $frame, $tile, $file, $pos, $cls, $p, $h, $probs, $model, $now)
                    """,
                    transaction, ("$series", batch.SeriesInstanceUid), ("$sop", s.SopInstanceUid), ("$frame", s.Frame), ("$tile", s.Tile), ("$file", s.FileId),
                    ("$pos", s.Position), ("$cls", s.PredictedClass), ("$p", s.MaxProbability), ("$h", s.Entropy),
                    ("$probs", JsonSerializer.Serialize(s.Probabilities)), ("$model", s.ModelSha256), ("$now", now));
            }

            var all = ReadSlices("WHERE series_instance_uid = $s ORDER BY position, sop_instance_uid, frame, tile", transaction, ("$s", batch.SeriesInstanceUid));
            var summary = summarize(all);
            Execute(_connection,
                """
                INSERT INTO series(series_instance_uid, study_instance_uid, modality, description, slice_count, predicted_class, max_probability, entropy, probabilities,
                  best_sop_instance_uid, best_frame, best_position, low_confidence, quality_flags, model_name, model_version, model_sha256, preprocessing_version,
                  read_ms, normalize_ms, inference_ms, latency_ms, classified_at, updates)
                VALUES($series, $study, $mod, $desc, $n, $cls, $p, $h, $probs, $bsop, $bframe, $bpos, $low, $flags, $mname, $mver, $msha, $pre, $rms, $nms, $ims, $lms, $now, 1)
                ON CONFLICT(series_instance_uid) DO UPDATE SET slice_count = excluded.slice_count, predicted_class = excluded.predicted_class,
                  max_probability = excluded.max_probability, entropy = excluded.entropy, probabilities = excluded.probabilities,
                  best_sop_instance_uid = excluded.best_sop_instance_uid, best_frame = excluded.best_frame, best_position = excluded.best_position,
                  low_confidence = excluded.low_confidence, quality_flags = excluded.quality_flags, model_name = excluded.model_name,
                  model_version = excluded.model_version, model_sha256 = excluded.model_sha256, preprocessing_version = excluded.preprocessing_version,
                  read_ms = read_ms + excluded.read_ms, normalize_ms = normalize_ms + excluded.normalize_ms, inference_ms = inference_ms + excluded.inference_ms,
                  latency_ms = excluded.latency_ms, classified_at = excluded.classified_at, updates = updates + 1
                """,
                transaction, ("$series", batch.SeriesInstanceUid), ("$study", batch.StudyInstanceUid), ("$mod", batch.Modality), ("$desc", batch.Description),
                ("$n", summary.SliceCount), ("$cls", summary.PredictedClass), ("$p", summary.MaxProbability), ("$h", summary.Entropy),
                ("$probs", JsonSerializer.Serialize(summary.Probabilities)), ("$bsop", summary.BestSlice.SopInstanceUid), ("$bframe", summary.BestSlice.Frame),
                ("$bpos", summary.BestSlice.Position), ("$low", summary.LowConfidence ? 1 : 0), ("$flags", summary.QualityFlags),
                ("$mname", batch.Model.Name), ("$mver", batch.Model.Version), ("$msha", batch.Model.Sha256), ("$pre", batch.Model.PreprocessingVersion),
                ("$rms", batch.ReadMs), ("$nms", batch.NormalizeMs), ("$ims", batch.InferenceMs), ("$lms", batch.LatencyMs), ("$now", now));
            foreach (var id in batch.FileIds)
            {
                Execute(_connection, "UPDATE files SET state = 'done', attempts = 0, reason = NULL, detail = NULL, updated_at = $now WHERE id = $id", transaction, ("$now", now), ("$id", id));
            }

            transaction.Commit();
            return summary;
        }
    }

    /// <summary>Stored slices with their file paths, oldest first, optionally since a time or for some files only.</summary>
    public IReadOnlyList<(string Path, string SeriesInstanceUid, SliceResult Slice, string ClassifiedAt)> SliceRows(DateTimeOffset? since = null, IReadOnlyCollection<long>? fileIds = null)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            var where = since is null ? "1 = 1" : "s.classified_at >= $since";
            if (fileIds is not null)
            {
                where += fileIds.Count == 0 ? " AND 0" : $" AND s.file_id IN ({string.Join(',', fileIds.Select(i => i.ToString(CultureInfo.InvariantCulture)))})";
            }

            command.CommandText = $"SELECT f.path, s.series_instance_uid, s.classified_at, {SliceColumns} FROM slices s JOIN files f ON f.id = s.file_id WHERE {where} ORDER BY s.classified_at, s.series_instance_uid, s.position, s.sop_instance_uid, s.frame, s.tile";
            if (since is { } t)
            {
                command.Parameters.AddWithValue("$since", Format(t));
            }

            var rows = new List<(string, string, SliceResult, string)>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                rows.Add((reader.GetString(0), reader.GetString(1), ReadSlice(reader, 3), reader.GetString(2)));
            }

            return rows;
        }
    }

    /// <summary>Series results as column name → value rows, newest first, optionally since a time.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, object?>> SeriesRows(DateTimeOffset? since = null)
    {
        lock (_lock)
        {
            return Rows("SELECT * FROM series WHERE $since IS NULL OR classified_at >= $since ORDER BY classified_at DESC, series_instance_uid", ("$since", since is { } t ? Format(t) : null));
        }
    }

    /// <summary>Any query's rows as column name → value (status and tests).</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, object?>> Rows(string sql, params (string Name, object? Value)[] parameters)
    {
        lock (_lock)
        {
            using var command = Command(_connection, sql, null, parameters);

            using var reader = command.ExecuteReader();
            var rows = new List<IReadOnlyDictionary<string, object?>>();
            while (reader.Read())
            {
                var row = new Dictionary<string, object?>(StringComparer.Ordinal);
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
                }

                rows.Add(row);
            }

            return rows;
        }
    }

    // ---- models and status ----

    /// <summary>Records a model package as loaded or refused.</summary>
    public void RecordModel(string sha256, string folder, string? name, string? version, string? arch, string? precision, IReadOnlyList<string>? classes, string? preprocessingVersion, string state, string? reason)
    {
        lock (_lock)
        {
            Execute(_connection,
                """
                INSERT INTO models(sha256, folder, name, version, arch, precision, classes, preprocessing_version, state, reason, updated_at)
                VALUES($h, $f, $n, $v, $a, $p, $c, $pre, $st, $r, $now)
                ON CONFLICT(sha256, folder) DO UPDATE SET state = excluded.state, reason = excluded.reason, updated_at = excluded.updated_at
                """,
                null, ("$h", sha256), ("$f", folder), ("$n", name), ("$v", version), ("$a", arch), ("$p", precision),
                ("$c", classes is null ? null : JsonSerializer.Serialize(classes)), ("$pre", preprocessingVersion), ("$st", state), ("$r", reason), ("$now", Now()));
        }
    }

    /// <summary>Sets one status value (model, queue depths, last error, intake state) for <c>agent status</c>.</summary>
    public void SetStatus(string key, string value)
    {
        lock (_lock)
        {
            Execute(_connection, "INSERT INTO agent_status(key, value, updated_at) VALUES($k, $v, $now) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                null, ("$k", key), ("$v", value), ("$now", Now()));
        }
    }

    /// <summary>All status values with their update times.</summary>
    public IReadOnlyDictionary<string, (string Value, string UpdatedAt)> Status()
    {
        return Rows("SELECT key, value, updated_at FROM agent_status").ToDictionary(r => (string)r["key"]!, r => ((string)r["value"]!, (string)r["updated_at"]!), StringComparer.Ordinal);
    }

    /// <summary>Closes the connection.</summary>
    public void Dispose() => _connection.Dispose();

    // ---- plumbing ----

    private const string FileColumns = "id, path, size, modified_ms, sha256, sop_instance_uid, series_instance_uid, state, attempts, reason, detail, quarantine_path, updated_at";
    private const string SliceColumns = "s.file_id, s.sop_instance_uid, s.frame, s.tile, s.position, s.probabilities, s.predicted_class, s.max_probability, s.entropy, s.model_sha256";

    private List<FileRecord> QueryFiles(string where, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(_connection, $"SELECT {FileColumns} FROM files {where}", null, parameters);

        using var reader = command.ExecuteReader();
        var files = new List<FileRecord>();
        while (reader.Read())
        {
            files.Add(new FileRecord(
                reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), NullableString(reader, 4), NullableString(reader, 5), NullableString(reader, 6),
                reader.GetString(7), reader.GetInt32(8), NullableString(reader, 9), NullableString(reader, 10), NullableString(reader, 11), reader.GetString(12)));
        }

        return files;
    }

    private List<SliceResult> ReadSlices(string where, SqliteTransaction transaction, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(_connection, $"SELECT {SliceColumns} FROM slices s {where}", transaction, parameters);

        using var reader = command.ExecuteReader();
        var slices = new List<SliceResult>();
        while (reader.Read())
        {
            slices.Add(ReadSlice(reader, 0));
        }

        return slices;
    }

    private static SliceResult ReadSlice(SqliteDataReader reader, int first) => new(
        reader.GetInt64(first), reader.GetString(first + 1), reader.GetInt32(first + 2), reader.GetInt32(first + 3),
        reader.IsDBNull(first + 4) ? null : reader.GetDouble(first + 4),
        JsonSerializer.Deserialize<Dictionary<string, double>>(reader.GetString(first + 5)) ?? [],
        reader.GetString(first + 6), reader.GetDouble(first + 7), reader.GetDouble(first + 8), reader.GetString(first + 9));

    private static string? NullableString(SqliteDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetString(i);

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, sql, transaction, parameters);
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters) =>
        Scalar(connection, sql, null, parameters);

    private static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? transaction, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, sql, transaction, parameters);
        var result = command.ExecuteScalar();
        return result is DBNull ? null : result;
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, SqliteTransaction? transaction, (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    /// <summary>Timestamps are ISO 8601 UTC with milliseconds: they sort as text.</summary>
    internal static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Now() => Format(DateTimeOffset.UtcNow);
}
