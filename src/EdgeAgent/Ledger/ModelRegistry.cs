using System.Text.Json;
using static EdgeMed.EdgeAgent.Ledger.AgentDatabase;

namespace EdgeMed.EdgeAgent.Ledger;

/// <summary>Model packages the agent loaded or refused, by content hash and folder (table <c>models</c>).</summary>
public sealed class ModelRegistry
{
    private readonly AgentDatabase _database;

    internal ModelRegistry(AgentDatabase database) => _database = database;

    /// <summary>Records a model package as loaded or refused.</summary>
    public void Record(string sha256, string folder, string? name, string? version, string? arch, string? precision, IReadOnlyList<string>? classes, string? preprocessingVersion, string state, string? reason) => _database.Locked(c =>
    {
        Execute(c,
            """
            INSERT INTO models(sha256, folder, name, version, arch, precision, classes, preprocessing_version, state, reason, updated_at, first_seen)
            VALUES($h, $f, $n, $v, $a, $p, $c, $pre, $st, $r, $now, $now)
            ON CONFLICT(sha256, folder) DO UPDATE SET state = excluded.state, reason = excluded.reason, updated_at = excluded.updated_at, load_attempts = 0,
              name = coalesce(excluded.name, name), version = coalesce(excluded.version, version), arch = coalesce(excluded.arch, arch),
              precision = coalesce(excluded.precision, precision), classes = coalesce(excluded.classes, classes),
              preprocessing_version = coalesce(excluded.preprocessing_version, preprocessing_version)
            """,
            null, ("$h", sha256), ("$f", folder), ("$n", name), ("$v", version), ("$a", arch), ("$p", precision),
            ("$c", classes is null ? null : JsonSerializer.Serialize(classes)), ("$pre", preprocessingVersion), ("$st", state), ("$r", reason), ("$now", Now()));
    });

    /// <summary>
    /// Marks a load of this content starting (state <see cref="ModelStates.Loading"/>, committed before the load) and
    /// returns how many earlier loads of it in boot <paramref name="bootId"/> ended with the agent dead. A load that
    /// ends is recorded by <see cref="Record"/>, which clears the count.
    /// </summary>
    public int BeginLoad(string sha256, string folder, string bootId) => _database.InTransaction((c, t) =>
    {
        var row = Query(c, "SELECT state, load_attempts, boot_id FROM models WHERE sha256 = $h AND folder = $f", t,
            r => (State: r.GetString(0), Attempts: r.GetInt32(1), Boot: NullableString(r, 2)), ("$h", sha256), ("$f", folder)).FirstOrDefault();
        var deaths = row.State == ModelStates.Loading && row.Boot == bootId ? row.Attempts : 0;
        var now = Now();
        Execute(c,
            """
            INSERT INTO models(sha256, folder, state, updated_at, first_seen, load_attempts, boot_id) VALUES($h, $f, $st, $now, $now, $a, $b)
            ON CONFLICT(sha256, folder) DO UPDATE SET state = excluded.state, reason = NULL, updated_at = excluded.updated_at,
              load_attempts = excluded.load_attempts, boot_id = excluded.boot_id
            """,
            t, ("$h", sha256), ("$f", folder), ("$st", ModelStates.Loading), ("$now", now), ("$a", deaths + 1), ("$b", bootId));
        return deaths;
    });

    /// <summary>What is known of this content in this folder, if anything.</summary>
    public ModelRecord? Find(string sha256, string folder) => _database.Locked(c =>
        Query(c, "SELECT state, reason, coalesce(first_seen, updated_at) FROM models WHERE sha256 = $h AND folder = $f", null,
            r => new ModelRecord(r.GetString(0), NullableString(r, 1), r.GetString(2)), ("$h", sha256), ("$f", folder)).FirstOrDefault());

    /// <summary>Folders and reasons of packages in <paramref name="state"/>, by folder.</summary>
    public IReadOnlyList<(string Folder, string? Reason)> InState(string state) => _database.Locked(c =>
        Query(c, "SELECT folder, reason FROM models WHERE state = $st ORDER BY folder", null, r => (r.GetString(0), NullableString(r, 1)), ("$st", state)));
}
