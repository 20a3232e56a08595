using System.Globalization;
using static EdgeMed.EdgeAgent.Ledger.AgentDatabase;

namespace EdgeMed.EdgeAgent.Ledger;

/// <summary>
/// Inference attempts per series (table <c>inference_attempts</c>): a row is committed before a series' inference
/// starts and removed when it ends, stored or not; a row found at the next attempt means the agent died during it.
/// Deaths in an earlier boot (a power cut, a reboot) do not count: only repeated deaths in one boot point at the series.
/// </summary>
public sealed class InferenceAttempts
{
    private readonly AgentDatabase _database;

    internal InferenceAttempts(AgentDatabase database) => _database = database;

    /// <summary>
    /// Records an attempt on <paramref name="seriesUid"/> in boot <paramref name="bootId"/>; returns how many earlier
    /// attempts in that boot ended with the agent dead.
    /// </summary>
    public int Begin(string seriesUid, string bootId) => _database.InTransaction((c, t) =>
    {
        var row = Query(c, "SELECT attempts, boot_id FROM inference_attempts WHERE series_instance_uid = $s", t,
            r => (Attempts: r.GetInt32(0), Boot: r.GetString(1)), ("$s", seriesUid)).FirstOrDefault();
        var crashes = row.Boot == bootId ? row.Attempts : 0;
        Execute(c, "INSERT INTO inference_attempts(series_instance_uid, attempts, boot_id, updated_at) VALUES($s, $a, $b, $now) ON CONFLICT(series_instance_uid) DO UPDATE SET attempts = excluded.attempts, boot_id = excluded.boot_id, updated_at = excluded.updated_at",
            t, ("$s", seriesUid), ("$a", crashes + 1), ("$b", bootId), ("$now", Now()));
        return crashes;
    });

    /// <summary>Ends the attempt: the series was stored, failed in a way that was handled, or the agent stopped cleanly.</summary>
    public void End(string seriesUid) => _database.Locked(c => Execute(c, "DELETE FROM inference_attempts WHERE series_instance_uid = $s", null, ("$s", seriesUid)));

    /// <summary>Attempts recorded for a series and not ended (for tests and status).</summary>
    public int Pending(string seriesUid) => _database.Locked(c =>
        Convert.ToInt32(Scalar(c, "SELECT coalesce(max(attempts), 0) FROM inference_attempts WHERE series_instance_uid = $s", ("$s", seriesUid)), CultureInfo.InvariantCulture));
}
