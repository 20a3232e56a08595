using System.Globalization;
using Microsoft.Data.Sqlite;

namespace EdgeMed.EdgeAgent.Ledger;

/// <summary>
/// The agent's one SQLite file, and its repositories: <see cref="Files"/> (the ledger of every file seen),
/// <see cref="Results"/> (slices and series), <see cref="Outbox"/> (result objects on their way to destinations),
/// <see cref="Models"/> (packages loaded or refused), <see cref="Inference"/> (attempts per series) and
/// <see cref="Status"/> (what <c>agent status</c> shows). WAL journal; commits are fsynced (<c>synchronous=FULL</c>)
/// before they return, so a result, a quarantine or any state reported as final survives a power cut — except those
/// marked <see cref="Durability.SurvivesCrash"/>: the progress of a file on its way (registered, attempt begun or
/// ended, read), whose loss in a power cut only means reading the file again. Those are written without an fsync of
/// their own (<c>synchronous=NORMAL</c>), still survive a crash of the process (the kernel holds them), and reach the
/// disk with the next fsynced commit. At 6.5 ms per fsync here they were most of the pipeline's cost per file
/// (docs/PERFORMANCE.md). One connection behind a lock: stages call in from several threads and every call is short.
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
        // 2: when a package (content hash, folder) was first seen: packages whose created_at lies in the future are
        // ordered by it instead, so one from a machine with a wrong clock cannot stay "newest" for ever.
        """
        ALTER TABLE models ADD COLUMN first_seen TEXT;
        UPDATE models SET first_seen = updated_at;
        ALTER TABLE models ADD COLUMN load_attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE models ADD COLUMN boot_id TEXT;
        """,
        // 3: inference attempts per series, so crashes during inference are counted against the series, not its files.
        """
        CREATE TABLE inference_attempts(series_instance_uid TEXT PRIMARY KEY, attempts INTEGER NOT NULL, boot_id TEXT NOT NULL, updated_at TEXT NOT NULL);
        """,
        // 4: the outbox: one row per result object, destination and version of its series, recorded in the series'
        // own transaction, so a result that is stored is also on its way out.
        """
        CREATE TABLE outbox(
          id INTEGER PRIMARY KEY,
          destination TEXT NOT NULL, kind TEXT NOT NULL, series_instance_uid TEXT NOT NULL, version INTEGER NOT NULL,
          state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL, last_error TEXT,
          created_at TEXT NOT NULL, updated_at TEXT NOT NULL, sent_at TEXT,
          UNIQUE(destination, kind, series_instance_uid, version));
        CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
        """,
        // 5: what a DICOM SR about a series copies and references: each slice's SOP class, and the source's patient
        // and study elements (encoded, identifying: never shown by the CLI or logged). Older rows have neither. A
        // random id of this database joins the SR's UIDs: a new database (a reinstall, a second agent on the same
        // scanner) numbers versions from 1 again and must not reuse a UID the PACS already holds for other content.
        """
        ALTER TABLE slices ADD COLUMN sop_class_uid TEXT;
        ALTER TABLE series ADD COLUMN source_module BLOB;
        CREATE TABLE installation(id TEXT NOT NULL);
        INSERT INTO installation(id) VALUES(lower(hex(randomblob(16))));
        """,
        // 6: heatmaps (PNG overlays of the class activation map) of a series' most confident slices, by path under
        // EdgeMed:Heatmaps; replaced with each stored part of the series.
        """
        CREATE TABLE heatmaps(
          series_instance_uid TEXT NOT NULL, sop_instance_uid TEXT NOT NULL, frame INTEGER NOT NULL, tile INTEGER NOT NULL,
          class TEXT NOT NULL, probability REAL NOT NULL, path TEXT NOT NULL, created_at TEXT NOT NULL,
          PRIMARY KEY(series_instance_uid, sop_instance_uid, frame, tile));
        """,
    ];

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();
    private LockPatience _patience;
    private Durability _durability = Durability.SurvivesPowerCut; // the connection's synchronous setting now

    private AgentDatabase(SqliteConnection connection, string path, LockPatience patience)
    {
        _connection = connection;
        _patience = patience;
        FilePath = path;
        Files = new FileLedger(this);
        Results = new ResultStore(this);
        Models = new ModelRegistry(this);
        Status = new StatusTable(this);
        Inference = new InferenceAttempts(this);
        Outbox = new OutboxLedger(this);
    }

    /// <summary>The database file.</summary>
    public string FilePath { get; }

    /// <summary>The schema version this build writes.</summary>
    public static int SchemaVersion => Migrations.Length;

    /// <summary>Every file version seen in the share, with its state and reason.</summary>
    public FileLedger Files { get; }

    /// <summary>Slice and series results.</summary>
    public ResultStore Results { get; }

    /// <summary>Model packages loaded or refused.</summary>
    public ModelRegistry Models { get; }

    /// <summary>The running agent's status values.</summary>
    public StatusTable Status { get; }

    /// <summary>Inference attempts per series not yet stored (what a crash during inference leaves).</summary>
    public InferenceAttempts Inference { get; }

    /// <summary>Result objects waiting for, or delivered to, their destinations.</summary>
    public OutboxLedger Outbox { get; }

    /// <summary>Opens (creating if needed) and migrates the database.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="patience">How long a write waits out another program's lock (default: 30 s, silent).</param>
    /// <exception cref="InvalidOperationException">The file was written by a newer EdgeMed, or is not a database.</exception>
    public static AgentDatabase Open(string path, LockPatience? patience = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        // Owner-only, whatever the umask: the ledger holds file paths (often patients' names) and results. SQLite gives
        // its -wal and -shm files the database file's mode.
        Share.OwnerOnly.CreateDirectory(Path.GetDirectoryName(full)!);
        if (!File.Exists(full))
        {
            try
            {
                using var created = new FileStream(full, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
            }
            catch (IOException) when (File.Exists(full))
            {
                // created by another process meanwhile: its own
            }
        }

        return Connect(full, SqliteOpenMode.ReadWriteCreate, patience ?? LockPatience.Default, connection =>
        {
            Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=1000;"); // Durability.SurvivesPowerCut
            Migrate(connection, full);
        });
    }

    /// <summary>
    /// Opens an existing database for queries only (status, results, quarantine list): it is never created, migrated
    /// or written, so a query cannot take the running service's write lock, and a wrong path is an error instead of a
    /// new empty database. WAL readers do not wait for writers, so a technician's open write transaction does not
    /// block it either.
    /// </summary>
    /// <exception cref="FileNotFoundException">There is no database at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidOperationException">Its schema is not this build's, or it is not a database.</exception>
    public static AgentDatabase OpenReadOnly(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"no EdgeMed database at {full} (check --db or EdgeMed:Database)", full);
        }

        return Connect(full, SqliteOpenMode.ReadOnly, LockPatience.Default, connection =>
        {
            Execute(connection, "PRAGMA busy_timeout=1000;");
            var version = SchemaVersionOf(connection);
            if (version != Migrations.Length)
            {
                throw new InvalidOperationException(version > Migrations.Length
                    ? $"{full} has schema version {version}, newer than this EdgeMed's {Migrations.Length}; use a newer EdgeMed."
                    : $"{full} has schema version {version}, older than this EdgeMed's {Migrations.Length}; start the agent once to upgrade it.");
            }
        });
    }

    /// <summary>Opens one connection, prepares it, and wraps SQLite's refusal (not a database, locked) in one message.</summary>
    private static AgentDatabase Connect(string full, SqliteOpenMode mode, LockPatience patience, Action<SqliteConnection> prepare)
    {
        // Each attempt comes back after a few seconds, so LockPatience (not the driver) decides how long to wait, and says so.
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Mode = mode, Pooling = false, DefaultTimeout = LockPatience.AttemptSeconds }.ToString());
        try
        {
            connection.Open();
            patience.Run(() =>
            {
                prepare(connection);
                return true;
            });
            return new AgentDatabase(connection, full, patience);
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            // A full file system surfaces as SQLITE_FULL, or as an I/O error when the WAL index cannot be created.
            if (FreeBytes(full) is < MinimumToOpen and var free)
            {
                throw new InvalidOperationException($"the file system holding {full} is full ({free / 1024} KB free): free space there; {e.Message}", e);
            }

            throw new InvalidOperationException($"{full} is not a usable EdgeMed database: {e.Message}", e);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Below this, a database that fails to open is reported as a full disk (the WAL index alone takes 32 KB).</summary>
    private const long MinimumToOpen = 1024 * 1024;

    private static long? FreeBytes(string path)
    {
        try
        {
            return new DriveInfo(Path.GetDirectoryName(path)!).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    private static int SchemaVersionOf(SqliteConnection connection) => Convert.ToInt32(Scalar(connection, "PRAGMA user_version"), CultureInfo.InvariantCulture);

    private static void Migrate(SqliteConnection connection, string path)
    {
        var version = SchemaVersionOf(connection);
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

    /// <summary>Closes the connection.</summary>
    public void Dispose() => _connection.Dispose();

    /// <summary>A pragma's value on this connection (journal mode and synchronous are per connection), for tests.</summary>
    internal object? Pragma(string name)
    {
        lock (_lock)
        {
            return Scalar(_connection, $"PRAGMA {name}"); // as it is now: not through Locked, which would set synchronous first
        }
    }

    /// <summary>Timestamps are ISO 8601 UTC with milliseconds: they sort as text.</summary>
    internal static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    internal static string Now() => Format(DateTimeOffset.UtcNow);

    /// <summary>
    /// Runs <paramref name="work"/> under the connection's lock (one statement, or several that need no transaction
    /// and may run again: another program's lock on the file is waited out by running it again).
    /// </summary>
    internal T Locked<T>(Func<SqliteConnection, T> work, Durability durability = Durability.SurvivesPowerCut)
    {
        lock (_lock)
        {
            Use(durability);
            return _patience.Run(() => work(_connection));
        }
    }

    /// <summary>Sets the connection's synchronous mode for the next commit (a pragma only when it changes; never inside a transaction).</summary>
    private void Use(Durability durability)
    {
        if (durability != _durability)
        {
            Execute(_connection, durability == Durability.SurvivesPowerCut ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
            _durability = durability;
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> (which uses this database) with a patience of at most <paramref name="timeout"/>:
    /// the service's start-up, which systemd's TimeoutStartSec would cut short before the full patience ran out, so a
    /// lock or a full disk at start is reported in one line instead of a start timeout. Called before any other thread
    /// uses the database.
    /// </summary>
    internal void WithPatienceAtMost(TimeSpan timeout, Action work)
    {
        var saved = _patience;
        _patience = saved.AtMost(timeout);
        try
        {
            work();
        }
        finally
        {
            _patience = saved;
        }
    }

    /// <inheritdoc cref="Locked{T}(Func{SqliteConnection, T}, Durability)"/>
    internal void Locked(Action<SqliteConnection> work, Durability durability = Durability.SurvivesPowerCut) => Locked(c =>
    {
        work(c);
        return true;
    }, durability);

    /// <inheritdoc cref="InTransaction{T}(Func{SqliteConnection, SqliteTransaction, T}, Durability)"/>
    internal void InTransaction(Action<SqliteConnection, SqliteTransaction> work, Durability durability = Durability.SurvivesPowerCut) => InTransaction((c, t) =>
    {
        work(c, t);
        return true;
    }, durability);

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction under the lock; it commits when <paramref name="work"/> returns.
    /// Another program's lock on the file rolls it back and runs it again.
    /// </summary>
    internal T InTransaction<T>(Func<SqliteConnection, SqliteTransaction, T> work, Durability durability = Durability.SurvivesPowerCut)
    {
        lock (_lock)
        {
            Use(durability);
            return _patience.Run(() =>
            {
                using var transaction = _connection.BeginTransaction();
                var result = work(_connection, transaction);
                transaction.Commit();
                return result;
            });
        }
    }

    internal static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, sql, transaction, parameters);
        command.ExecuteNonQuery();
    }

    internal static object? Scalar(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters) =>
        Scalar(connection, sql, null, parameters);

    internal static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? transaction, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, sql, transaction, parameters);
        var result = command.ExecuteScalar();
        return result is DBNull ? null : result;
    }

    /// <summary>The rows of a query, each mapped by <paramref name="map"/>.</summary>
    internal static List<T> Query<T>(SqliteConnection connection, string sql, SqliteTransaction? transaction, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, sql, transaction, parameters);
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read())
        {
            rows.Add(map(reader));
        }

        return rows;
    }

    /// <summary>A row as column name → value (for the JSON and CSV writers of <c>agent results</c>).</summary>
    internal static IReadOnlyDictionary<string, object?> AsDictionary(SqliteDataReader reader)
    {
        var row = new Dictionary<string, object?>(StringComparer.Ordinal);
        for (var i = 0; i < reader.FieldCount; i++)
        {
            row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
        }

        return row;
    }

    internal static string? NullableString(SqliteDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetString(i);

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
}

/// <summary>What a commit must survive (see <see cref="AgentDatabase"/>).</summary>
internal enum Durability
{
    /// <summary>Fsynced before the commit returns: results, quarantine, every state reported as final.</summary>
    SurvivesPowerCut,

    /// <summary>Not fsynced on its own: progress whose loss in a power cut only means reading a file again.</summary>
    SurvivesCrash,
}
