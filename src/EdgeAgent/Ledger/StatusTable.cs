using static EdgeMed.EdgeAgent.Ledger.AgentDatabase;

namespace EdgeMed.EdgeAgent.Ledger;

/// <summary>What the running agent tells <c>agent status</c> (table <c>agent_status</c>, keys in <see cref="StatusKeys"/>).</summary>
public sealed class StatusTable
{
    private readonly AgentDatabase _database;

    internal StatusTable(AgentDatabase database) => _database = database;

    /// <summary>Sets one status value (model, queue depths, last error, intake state).</summary>
    public void Set(string key, string value) => _database.Locked(c =>
    {
        Execute(c, "INSERT INTO agent_status(key, value, updated_at) VALUES($k, $v, $now) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            null, ("$k", key), ("$v", value), ("$now", Now()));
    });

    /// <summary>All status values with their update times.</summary>
    public IReadOnlyDictionary<string, (string Value, string UpdatedAt)> All() => _database.Locked(c =>
        Query(c, "SELECT key, value, updated_at FROM agent_status", null, r => (Key: r.GetString(0), Value: r.GetString(1), UpdatedAt: r.GetString(2))))
        .ToDictionary(r => r.Key, r => (r.Value, r.UpdatedAt), StringComparer.Ordinal);
}
