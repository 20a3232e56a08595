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
            ON CONFLICT(sha256, folder) DO UPDATE SET state = excluded.state, reason = excluded.reason, updated_at = excluded.updated_at,
              name = coalesce(excluded.name, name), version = coalesce(excluded.version, version), arch = coalesce(excluded.arch, arch),
              precision = coalesce(excluded.precision, precision), classes = coalesce(excluded.classes, classes),
              preprocessing_version = coalesce(excluded.preprocessing_version, preprocessing_version)
            """,
            null, ("$h", sha256), ("$f", folder), ("$n", name), ("$v", version), ("$a", arch), ("$p", precision),
            ("$c", classes is null ? null : JsonSerializer.Serialize(classes)), ("$pre", preprocessingVersion), ("$st", state), ("$r", reason), ("$now", Now()));
    });

    /// <summary>What is known of this content in this folder, if anything.</summary>
    public ModelRecord? Find(string sha256, string folder) => _database.Locked(c =>
        Query(c, "SELECT state, reason, coalesce(first_seen, updated_at) FROM models WHERE sha256 = $h AND folder = $f", null,
            r => new ModelRecord(r.GetString(0), NullableString(r, 1), r.GetString(2)), ("$h", sha256), ("$f", folder)).FirstOrDefault());

    /// <summary>Folders and reasons of packages in <paramref name="state"/>, by folder.</summary>
    public IReadOnlyList<(string Folder, string? Reason)> InState(string state) => _database.Locked(c =>
        Query(c, "SELECT folder, reason FROM models WHERE state = $st ORDER BY folder", null, r => (r.GetString(0), NullableString(r, 1)), ("$st", state)));
}
