using System.Globalization;
using Microsoft.Data.Sqlite;
using static EdgeMed.EdgeAgent.Ledger.AgentDatabase;

namespace EdgeMed.EdgeAgent.Ledger;

/// <summary>
/// The outbox (table <c>outbox</c>): one row per result object, destination and version of its series, with its state
/// (<see cref="OutboxStates"/>), attempts and the time of its next attempt. Rows are recorded in the transaction that
/// stores the series (<see cref="ResultStore.StoreSeries"/>), so nothing stored can miss its way out, and a row is
/// marked sent only after its destination has the object: a crash in between sends it again, which the destination
/// takes as the same object (same file name, same UIDs).
/// </summary>
public sealed class OutboxLedger
{
    private const string Columns = "id, destination, kind, series_instance_uid, version, state, attempts, next_attempt_at, last_error, created_at, sent_at";

    private readonly AgentDatabase _database;

    internal OutboxLedger(AgentDatabase database) => _database = database;

    /// <summary>
    /// Records version <paramref name="version"/> of a series' objects for each route, inside the series' own
    /// transaction; an older version of the same object still pending is superseded (only the newest is worth sending).
    /// </summary>
    internal static void Enqueue(SqliteConnection connection, SqliteTransaction transaction, string seriesInstanceUid, long version, IReadOnlyList<OutboxRoute> routes, string now)
    {
        foreach (var route in routes)
        {
            // A destination that is paused stays paused for the new row too (read before the older version is superseded).
            Execute(connection,
                $"""
                INSERT OR IGNORE INTO outbox(destination, kind, series_instance_uid, version, state, next_attempt_at, created_at, updated_at)
                VALUES($d, $o, $s, $v, '{OutboxStates.Pending}', max($now, coalesce((SELECT max(next_attempt_at) FROM outbox WHERE destination = $d AND state = '{OutboxStates.Pending}'), $now)), $now, $now)
                """,
                transaction, ("$d", route.Destination), ("$o", route.Kind), ("$s", seriesInstanceUid), ("$v", version), ("$now", now));
            Execute(connection,
                $"UPDATE outbox SET state = '{OutboxStates.Superseded}', updated_at = $now WHERE destination = $d AND kind = $o AND series_instance_uid = $s AND state = '{OutboxStates.Pending}' AND version < $v",
                transaction, ("$now", now), ("$d", route.Destination), ("$o", route.Kind), ("$s", seriesInstanceUid), ("$v", version));
        }
    }

    /// <summary>Pending rows of these destinations whose next attempt is due: those that failed least first, then oldest first.</summary>
    public IReadOnlyList<OutboxItem> Due(IReadOnlyCollection<string> destinations, DateTimeOffset now, int limit) => _database.Locked(c => Select(c,
        $"WHERE state = '{OutboxStates.Pending}' AND next_attempt_at <= $now AND destination IN (SELECT value FROM json_each($d)) ORDER BY attempts, next_attempt_at, id LIMIT $limit",
        ("$now", Format(now)), ("$d", System.Text.Json.JsonSerializer.Serialize(destinations)), ("$limit", limit)));

    /// <summary>The row is delivered.</summary>
    public void MarkSent(long id) => _database.Locked(c => Execute(c,
        $"UPDATE outbox SET state = '{OutboxStates.Sent}', last_error = NULL, sent_at = $now, updated_at = $now WHERE id = $id AND state = '{OutboxStates.Pending}'",
        null, ("$now", Now()), ("$id", id)));

    /// <summary>
    /// A delivery failed: one more attempt counted on the row, and no pending row of its destination is due before
    /// <paramref name="next"/> (the destination is down, not the row).
    /// </summary>
    public void MarkFailed(OutboxItem item, string error, DateTimeOffset next)
    {
        ArgumentNullException.ThrowIfNull(item);
        _database.InTransaction((c, t) =>
        {
            var now = Now();
            Execute(c, $"UPDATE outbox SET attempts = attempts + 1, last_error = $e, updated_at = $now WHERE id = $id AND state = '{OutboxStates.Pending}'",
                t, ("$e", error), ("$now", now), ("$id", item.Id));
            Execute(c, $"UPDATE outbox SET next_attempt_at = max(next_attempt_at, $next) WHERE destination = $d AND state = '{OutboxStates.Pending}'",
                t, ("$next", Format(next)), ("$d", item.Destination));
        });
    }

    /// <summary>Every pending row, and the rows sent or superseded since <paramref name="since"/>; newest first.</summary>
    public IReadOnlyList<OutboxItem> List(DateTimeOffset since) => _database.Locked(c => Select(c,
        $"WHERE state = '{OutboxStates.Pending}' OR updated_at >= $since ORDER BY CASE state WHEN '{OutboxStates.Pending}' THEN 0 ELSE 1 END, id DESC",
        ("$since", Format(since))));

    /// <summary>
    /// <c>agent outbox retry</c>: the given rows (pending, or sent: the destination lost them) or, with
    /// <paramref name="all"/>, every pending row, become due now. Returns the rows changed.
    /// </summary>
    public int Retry(IReadOnlyCollection<long> ids, bool all) => _database.InTransaction((c, t) =>
    {
        var now = Now();
        if (all)
        {
            return Changed(c, t, $"UPDATE outbox SET next_attempt_at = $now, updated_at = $now WHERE state = '{OutboxStates.Pending}'", ("$now", now));
        }

        var changed = 0;
        foreach (var id in ids)
        {
            changed += Changed(c, t,
                $"UPDATE outbox SET state = '{OutboxStates.Pending}', next_attempt_at = $now, sent_at = NULL, updated_at = $now WHERE id = $id AND state IN ('{OutboxStates.Pending}', '{OutboxStates.Sent}')",
                ("$now", now), ("$id", id));
        }

        return changed;
    });

    /// <summary>What <c>agent status</c> shows: pending rows per destination with the oldest, and rows sent since a time.</summary>
    public OutboxSummary Summarize(DateTimeOffset since) => _database.Locked(c =>
    {
        var pending = Query(c, $"SELECT destination, count(*), min(created_at), max(attempts) FROM outbox WHERE state = '{OutboxStates.Pending}' GROUP BY destination ORDER BY destination",
            null, r => new OutboxBacklog(r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetInt64(3)));
        var sent = Convert.ToInt64(Scalar(c, $"SELECT count(*) FROM outbox WHERE state = '{OutboxStates.Sent}' AND sent_at >= $since", ("$since", Format(since))), CultureInfo.InvariantCulture);
        var error = Query(c, $"SELECT last_error FROM outbox WHERE state = '{OutboxStates.Pending}' AND last_error IS NOT NULL ORDER BY updated_at DESC LIMIT 1", null, r => r.GetString(0)).FirstOrDefault();
        return new OutboxSummary(pending, sent, error);
    });

    /// <summary>
    /// Pending rows of these destinations that are due: <c>--stop-when-idle</c> waits for them (rows of a destination
    /// that is down, or paused by an earlier run, wait for a later run).
    /// </summary>
    public long CountDue(IReadOnlyCollection<string> destinations, DateTimeOffset now) => _database.Locked(c => Convert.ToInt64(Scalar(c,
        $"SELECT count(*) FROM outbox WHERE state = '{OutboxStates.Pending}' AND next_attempt_at <= $now AND destination IN (SELECT value FROM json_each($d))",
        ("$now", Format(now)), ("$d", System.Text.Json.JsonSerializer.Serialize(destinations))), CultureInfo.InvariantCulture));

    private static int Changed(SqliteConnection connection, SqliteTransaction transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        Execute(connection, sql, transaction, parameters);
        return Convert.ToInt32(Scalar(connection, "SELECT changes()", transaction), CultureInfo.InvariantCulture);
    }

    private static List<OutboxItem> Select(SqliteConnection connection, string where, params (string Name, object? Value)[] parameters) =>
        Query(connection, $"SELECT {Columns} FROM outbox {where}", null, r => new OutboxItem(
            r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), r.GetString(5), r.GetInt32(6), r.GetString(7),
            NullableString(r, 8), r.GetString(9), NullableString(r, 10)), parameters);
}

/// <summary>Which object goes to which destination.</summary>
/// <param name="Destination">The destination's name (<c>EdgeMed:Destinations:N:Name</c>).</param>
/// <param name="Kind">An <see cref="OutboxObjects"/> kind.</param>
public sealed record OutboxRoute(string Destination, string Kind);

/// <summary>One outbox row.</summary>
/// <param name="Id">Row id (<c>agent outbox retry ID</c>).</param>
/// <param name="Destination">Destination name.</param>
/// <param name="Kind">Object kind.</param>
/// <param name="SeriesInstanceUid">The series it reports.</param>
/// <param name="Version">The series' <c>updates</c> count when it was recorded.</param>
/// <param name="State">An <see cref="OutboxStates"/> value.</param>
/// <param name="Attempts">Failed attempts so far.</param>
/// <param name="NextAttemptAt">When it is tried next (pending rows).</param>
/// <param name="LastError">The last failure, one line.</param>
/// <param name="CreatedAt">When it was recorded.</param>
/// <param name="SentAt">When it was delivered.</param>
public sealed record OutboxItem(
    long Id, string Destination, string Kind, string SeriesInstanceUid, long Version, string State, int Attempts, string NextAttemptAt,
    string? LastError, string CreatedAt, string? SentAt);

/// <summary>Pending rows of one destination.</summary>
/// <param name="Destination">Destination name.</param>
/// <param name="Count">Rows pending.</param>
/// <param name="OldestCreatedAt">When the oldest was recorded.</param>
/// <param name="MaxAttempts">The most failed attempts of one of them.</param>
public sealed record OutboxBacklog(string Destination, long Count, string OldestCreatedAt, long MaxAttempts);

/// <summary>The outbox at a glance.</summary>
/// <param name="Pending">Pending rows per destination.</param>
/// <param name="Sent">Rows sent since the time asked.</param>
/// <param name="LastError">The latest failure among pending rows.</param>
public sealed record OutboxSummary(IReadOnlyList<OutboxBacklog> Pending, long Sent, string? LastError);
