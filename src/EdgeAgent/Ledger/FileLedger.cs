using System.Globalization;
using Microsoft.Data.Sqlite;
using static EdgeMed.EdgeAgent.Ledger.AgentDatabase;

namespace EdgeMed.EdgeAgent.Ledger;

/// <summary>
/// The ledger of every file version seen in the share (table <c>files</c>): its state (<see cref="FileStates"/>),
/// reason, attempts and content hash. A file version is its path, size and modification time.
/// </summary>
public sealed class FileLedger
{
    private const string Columns = "id, path, size, modified_ms, sha256, sop_instance_uid, series_instance_uid, state, attempts, reason, detail, quarantine_path, updated_at, first_seen";

    private readonly AgentDatabase _database;

    internal FileLedger(AgentDatabase database) => _database = database;

    /// <summary>The ledger row of this version of a file, if it was seen.</summary>
    public FileRecord? Find(string path, long size, long modifiedMs) =>
        _database.Locked(c => Select(c, "WHERE path = $p AND size = $s AND modified_ms = $m", ("$p", path), ("$s", size), ("$m", modifiedMs)).FirstOrDefault());

    /// <summary>One file by id.</summary>
    public FileRecord? Get(long id) => _database.Locked(c => Select(c, "WHERE id = $id", ("$id", id)).FirstOrDefault());

    /// <summary>
    /// Records a file version as queued, or returns its row if it was seen before. Older versions of the same path
    /// still waiting to be read are superseded (a scanner wrote on after a pause), so none waits forever.
    /// </summary>
    public FileRecord Register(string path, long size, long modifiedMs) => _database.InTransaction((c, t) =>
    {
        var now = Now();
        Execute(c, $"INSERT OR IGNORE INTO files(path, size, modified_ms, state, first_seen, updated_at) VALUES($p, $s, $m, '{FileStates.Queued}', $now, $now)",
            t, ("$p", path), ("$s", size), ("$m", modifiedMs), ("$now", now));
        var row = Select(c, t, "WHERE path = $p AND size = $s AND modified_ms = $m", ("$p", path), ("$s", size), ("$m", modifiedMs)).Single();
        Execute(c, $"UPDATE files SET state = '{FileStates.Ignored}', reason = '{FileReasons.Superseded}', detail = $d, attempts = 0, updated_at = $now WHERE path = $p AND id <> $id AND state = '{FileStates.Queued}'",
            t, ("$d", $"file {row.Id} is a newer version of it"), ("$now", now), ("$p", path), ("$id", row.Id));
        return row;
    }, Durability.SurvivesCrash);

    /// <summary>
    /// Counts one more attempt on a file (and stores its content hash when given), committed before any work on it starts, so a
    /// crash of the agent during that work leaves it counted (a power cut may take it back: the file is then simply
    /// read again). Returns the attempts now recorded.
    /// </summary>
    public int BeginAttempt(long id, string? sha256 = null) => _database.Locked(c =>
    {
        Execute(c, "UPDATE files SET attempts = attempts + 1, sha256 = coalesce($h, sha256), updated_at = $now WHERE id = $id", null, ("$h", (object?)sha256 ?? DBNull.Value), ("$now", Now()), ("$id", id));
        return Convert.ToInt32(Scalar(c, "SELECT attempts FROM files WHERE id = $id", ("$id", id)), CultureInfo.InvariantCulture);
    }, Durability.SurvivesCrash);

    /// <summary>Takes back an attempt that ended without a crash and without an outcome (the share went away, shutdown).</summary>
    public void EndAttempt(long id) => _database.Locked(c =>
    {
        Execute(c, "UPDATE files SET attempts = max(attempts - 1, 0), updated_at = $now WHERE id = $id", null, ("$now", Now()), ("$id", id));
    }, Durability.SurvivesCrash);

    /// <summary>
    /// Follows a file that moved (its folder was moved inside the share, perhaps while the agent was down): the row
    /// first made for it keeps its id, state and results and takes the new path; the row just registered for the new
    /// path is dropped. Returns the row as it is now.
    /// </summary>
    public FileRecord MoveTo(long originalId, long registeredId, string path, long size, long modifiedMs) => _database.InTransaction((c, t) =>
    {
        Execute(c, "DELETE FROM files WHERE id = $r", t, ("$r", registeredId));
        Execute(c, "UPDATE files SET path = $p, size = $s, modified_ms = $m, updated_at = $now WHERE id = $id",
            t, ("$p", path), ("$s", size), ("$m", modifiedMs), ("$now", Now()), ("$id", originalId));
        return Select(c, t, "WHERE id = $id", ("$id", originalId)).Single();
    });

    /// <summary>
    /// Another file (not quarantined, not a duplicate) with the same content, if any; if none, records
    /// <paramref name="sha256"/> as this file's content, so the next copy finds it. One transaction.
    /// </summary>
    public FileRecord? ClaimContent(long id, string sha256) => _database.InTransaction((c, t) =>
    {
        var other = Select(c, t, $"WHERE sha256 = $h AND id <> $id AND state NOT IN ('{FileStates.Quarantined}', '{FileStates.Duplicate}') ORDER BY id LIMIT 1", ("$h", sha256), ("$id", id)).FirstOrDefault();
        if (other is null)
        {
            Execute(c, "UPDATE files SET sha256 = $h, updated_at = $now WHERE id = $id", t, ("$h", sha256), ("$now", Now()), ("$id", id));
        }

        return other;
    }, Durability.SurvivesCrash);

    /// <summary>
    /// Marks a file read (its slices go on to the series assembler) unless another file already brought the same SOP
    /// instance, in which case it is marked a duplicate and false is returned. The read attempt ends here.
    /// </summary>
    public bool MarkRead(long id, string sopInstanceUid, string seriesInstanceUid) => _database.InTransaction((c, t) =>
    {
        var other = Scalar(c, $"SELECT id FROM files WHERE sop_instance_uid = $u AND id <> $id AND state IN ('{FileStates.Read}', '{FileStates.Done}') LIMIT 1", t, ("$u", sopInstanceUid), ("$id", id));
        var now = Now();
        if (other is not null)
        {
            Execute(c, $"UPDATE files SET state = '{FileStates.Duplicate}', reason = '{FileReasons.SopInstanceSeen}', detail = $d, sop_instance_uid = $u, series_instance_uid = $s, attempts = 0, updated_at = $now WHERE id = $id",
                t, ("$d", $"same SOP instance as file {other}"), ("$u", sopInstanceUid), ("$s", seriesInstanceUid), ("$now", now), ("$id", id));
            return false;
        }

        Execute(c, $"UPDATE files SET state = '{FileStates.Read}', sop_instance_uid = $u, series_instance_uid = $s, attempts = max(attempts - 1, 0), updated_at = $now WHERE id = $id",
            t, ("$u", sopInstanceUid), ("$s", seriesInstanceUid), ("$now", now), ("$id", id));
        return true;
    }, Durability.SurvivesCrash);

    /// <summary>Sets a terminal or queued state with its reason.</summary>
    public void SetState(long id, string state, string? reason, string? detail, string? quarantinePath = null, string? sopInstanceUid = null, string? seriesInstanceUid = null) => _database.Locked(c =>
    {
        Execute(c,
            $"""
            UPDATE files SET state = $st, reason = $r, detail = $d, quarantine_path = coalesce($q, quarantine_path),
              sop_instance_uid = coalesce($u, sop_instance_uid), series_instance_uid = coalesce($s, series_instance_uid),
              attempts = CASE WHEN $st IN ('{FileStates.Queued}', '{FileStates.Quarantined}') THEN attempts ELSE 0 END, updated_at = $now
            WHERE id = $id
            """,
            null, ("$st", state), ("$r", reason), ("$d", detail), ("$q", quarantinePath), ("$u", sopInstanceUid), ("$s", seriesInstanceUid), ("$now", Now()), ("$id", id));
    });


    /// <summary>How many files are not finished: what a restarted agent takes up again.</summary>
    public long CountUnfinished() => _database.Locked(c =>
        Convert.ToInt64(Scalar(c, $"SELECT count(*) FROM files WHERE state IN ('{FileStates.Queued}', '{FileStates.Read}')"), CultureInfo.InvariantCulture));

    /// <summary>
    /// Unfinished files the agent itself can take further: all but those waiting for a person (permissions) or for the
    /// share to read again (I/O errors).
    /// </summary>
    public long CountActionable() => _database.Locked(c =>
        Convert.ToInt64(Scalar(c, $"SELECT count(*) FROM files WHERE state IN ('{FileStates.Queued}', '{FileStates.Read}') AND NOT (state = '{FileStates.Queued}' AND reason IN ('{FileReasons.PermissionDenied}', '{FileReasons.ReadError}'))"), CultureInfo.InvariantCulture));

    /// <summary>Files per state among those updated since <paramref name="since"/>.</summary>
    public IReadOnlyList<(string State, long Count)> CountByState(DateTimeOffset since) => CountStates("WHERE updated_at >= $since", ("$since", Format(since)));

    /// <summary>Unfinished files (the queue) per state.</summary>
    public IReadOnlyList<(string State, long Count)> CountUnfinishedByState() => CountStates($"WHERE state IN ('{FileStates.Queued}', '{FileStates.Read}')");

    /// <summary>Queued files held back by a reason (incomplete, permission-denied, vanished, …), per reason: what waits on what.</summary>
    public IReadOnlyList<(string Reason, long Count)> CountWaitingByReason() => _database.Locked(c =>
        Query(c, $"SELECT reason, count(*) FROM files WHERE state = '{FileStates.Queued}' AND reason IS NOT NULL GROUP BY reason ORDER BY reason", null, r => (r.GetString(0), r.GetInt64(1))));

    /// <summary>Quarantined files, newest first.</summary>
    public IReadOnlyList<FileRecord> Quarantined() => _database.Locked(c => Select(c, $"WHERE state = '{FileStates.Quarantined}' ORDER BY updated_at DESC, id DESC"));

    /// <summary>Files by path (the latest version of each).</summary>
    public IReadOnlyList<FileRecord> ByPath(IReadOnlyCollection<string> paths) => _database.Locked(c =>
        paths.SelectMany(path => Select(c, "WHERE path = $p ORDER BY id DESC LIMIT 1", ("$p", path))).ToList());

    /// <summary>
    /// Puts a quarantined file back in the queue (after <c>agent quarantine retry</c> moved it back) and, in the same
    /// transaction, bumps <see cref="StatusKeys.RetryGeneration"/> so a running agent looks at the share again.
    /// </summary>
    public void ResetForRetry(long id) => _database.InTransaction((c, t) =>
    {
        Execute(c, $"UPDATE files SET state = '{FileStates.Queued}', attempts = 0, reason = '{FileReasons.Retry}', detail = NULL, quarantine_path = NULL, updated_at = $now WHERE id = $id AND state = '{FileStates.Quarantined}'",
            t, ("$now", Now()), ("$id", id));
        Execute(c, $"INSERT INTO agent_status(key, value, updated_at) VALUES('{StatusKeys.RetryGeneration}', '1', $now) ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1, updated_at = excluded.updated_at",
            t, ("$now", Now()));
    });

    private List<(string State, long Count)> CountStates(string where, params (string Name, object? Value)[] parameters) => _database.Locked(c =>
        Query(c, $"SELECT state, count(*) FROM files {where} GROUP BY state ORDER BY state", null, r => (r.GetString(0), r.GetInt64(1)), parameters));


    private static List<FileRecord> Select(SqliteConnection connection, string where, params (string Name, object? Value)[] parameters) =>
        Select(connection, null, where, parameters);

    private static List<FileRecord> Select(SqliteConnection connection, SqliteTransaction? transaction, string where, params (string Name, object? Value)[] parameters) =>
        Query(connection, $"SELECT {Columns} FROM files {where}", transaction, r => new FileRecord(
            r.GetInt64(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3), NullableString(r, 4), NullableString(r, 5), NullableString(r, 6),
            r.GetString(7), r.GetInt32(8), NullableString(r, 9), NullableString(r, 10), NullableString(r, 11), r.GetString(12), r.GetString(13)), parameters);
}
