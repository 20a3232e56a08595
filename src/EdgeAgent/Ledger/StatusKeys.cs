namespace EdgeMed.EdgeAgent.Ledger;

/// <summary>Keys of the <c>agent_status</c> table, written by the running agent and read by <c>agent status</c>.</summary>
public static class StatusKeys
{
    /// <summary>The loaded model: name, version, SHA-256.</summary>
    public const string Model = "model";

    /// <summary>The last error, one line.</summary>
    public const string LastError = "last_error";

    /// <summary>The agent's one-line health (same as systemd's STATUS).</summary>
    public const string Health = "health";

    /// <summary>Process id and start time of the running agent.</summary>
    public const string Process = "process";

    /// <summary>Bumped by <c>agent quarantine retry</c> so a running agent looks at the share afresh.</summary>
    public const string RetryGeneration = "retry_generation";
}
