using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeMed.EdgeAgent.Cli;

/// <summary><c>agent outbox list|retry</c>: result objects on their way to the destinations. Exit codes: 0 ok, 2 nothing matched.</summary>
internal static class OutboxCommands
{
    /// <summary>Every pending row and those sent in the last 24 h, one line each.</summary>
    public static int List(IHost host, TextWriter output)
    {
        var database = host.Services.GetRequiredService<AgentDatabase>();
        var configured = host.Services.GetRequiredService<IOptions<AgentOptions>>().Value.Destinations.Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        var rows = database.Outbox.List(DateTimeOffset.UtcNow.AddDays(-1));
        foreach (var r in rows)
        {
            var when = r.State switch
            {
                OutboxStates.Pending => $"next attempt {r.NextAttemptAt}",
                OutboxStates.Sent => $"sent {r.SentAt}",
                _ => $"recorded {r.CreatedAt}",
            };
            var note = !configured.Contains(r.Destination) ? "  (destination no longer configured)" : r.LastError is { } e && r.State == OutboxStates.Pending ? $"  last error: {e}" : string.Empty;
            output.WriteLine($"{r.Id,6}  {r.State,-10}  {r.Destination}  {r.Kind}  series …{Tail(r.SeriesInstanceUid)} v{r.Version}  attempts {r.Attempts}  {when}{note}");
        }

        output.WriteLine($"{rows.Count(r => r.State == OutboxStates.Pending)} pending, {rows.Count(r => r.State == OutboxStates.Sent)} sent in 24 h");
        return 0;
    }

    /// <summary>Makes rows due now: given ones (pending, or sent again), or every pending one.</summary>
    public static int Retry(IHost host, long[] ids, bool all, TextWriter output, TextWriter error)
    {
        if (!all && ids.Length == 0)
        {
            error.WriteLine("edgemed agent outbox retry: give row ids (see: agent outbox list) or --all.");
            return 2;
        }

        var changed = host.Services.GetRequiredService<AgentDatabase>().Outbox.Retry(ids, all);
        if (changed == 0)
        {
            error.WriteLine(all ? "Nothing is pending." : $"No pending or sent outbox row with id {string.Join(", ", ids)} (see: agent outbox list).");
            return 2;
        }

        output.WriteLine($"{changed} outbox row(s) due now; a running agent sends them within a second or two.");
        return 0;
    }

    /// <summary>The <c>agent status</c> line.</summary>
    public static string StatusLine(AgentDatabase database, IReadOnlyCollection<string> configured)
    {
        var summary = database.Outbox.Summarize(DateTimeOffset.UtcNow.AddDays(-1));
        var pending = summary.Pending.Count == 0
            ? "nothing pending"
            : string.Join(", ", summary.Pending.Select(p => $"{p.Count} pending for {p.Destination}"
                + (configured.Contains(p.Destination) ? string.Empty : " (no longer configured)")
                + $" (oldest {p.OldestCreatedAt}{(p.MaxAttempts > 0 ? $", {p.MaxAttempts} failed attempts" : string.Empty)})"));
        return $"{pending}; {summary.Sent} sent in 24 h{(summary.LastError is { } e ? $"; last error: {e}" : string.Empty)}";
    }

    private static string Tail(string uid) => uid.Length > 12 ? uid[^12..] : uid;
}
