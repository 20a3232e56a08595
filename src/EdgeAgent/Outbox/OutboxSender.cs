using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Operations;
using Microsoft.Extensions.Logging;

namespace EdgeMed.EdgeAgent.Outbox;

/// <summary>
/// Delivers the outbox: every second, the due rows of each configured destination, those that failed least first,
/// then the oldest (one object a destination keeps refusing does not hold back the others). A row is marked sent only
/// after its destination has the object, so a crash in between sends it again (same name, same ids). When a delivery
/// fails, the destination is left alone until a pause has passed: 2 s doubling with its failures in a row up to
/// <see cref="AgentOptions.SendRetryLimit"/>, recorded on every pending row of that destination (and given to rows
/// recorded meanwhile), so it holds across restarts and <c>agent outbox retry</c> can cut it short. Each destination
/// builds its object from the stored series when it is sent, so a resend is the same object. Known limit: a
/// destination that refuses one object for good (a 4xx) counts as down after each try of it.
/// </summary>
public sealed class OutboxSender : IDisposable
{
    /// <summary>How long a FHIR server may take to answer one POST.</summary>
    internal static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The first pause after a failed delivery.</summary>
    internal static readonly TimeSpan FirstPause = TimeSpan.FromSeconds(2);

    private const int RowsPerRound = 32;

    private readonly AgentDatabase _database;
    private readonly AgentHealth _health;
    private readonly ILogger _logger;
    private readonly TimeSpan _limit;
    // Redirects are not followed (see FhirDestination); answers are small transaction-responses.
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = RequestTimeout, MaxResponseContentBufferSize = 1 << 20 };
    private readonly Dictionary<string, Destination> _destinations;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> _downSince = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly string _workFolder;

    /// <summary>Creates the sender of the configured destinations.</summary>
    public OutboxSender(AgentDatabase database, AgentOptions options, AgentHealth health, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _database = database;
        _health = health;
        _logger = logger;
        _limit = options.SendRetryLimit;
        // Objects a program sends (storescu) wait in a file beside the ledger: patient data stays where the ledger is.
        var work = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(options.Database)) ?? ".", "outbox-work");
        _workFolder = work;
        _destinations = options.Destinations.ToDictionary(d => d.Name, d => Destination.For(d, _http, work, options.Heatmaps), StringComparer.Ordinal);
        Names = [.. _destinations.Keys];
    }

    /// <summary>The configured destinations' names.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The configured destinations whose last delivery did not fail (whose due rows <c>--stop-when-idle</c> waits for).</summary>
    public IReadOnlyList<string> ReachableNames => [.. Names.Where(n => !_downSince.ContainsKey(n))];

    /// <summary>Which objects go where: what <see cref="ResultStore.StoreSeries"/> records for each series.</summary>
    public static IReadOnlyList<OutboxRoute> Routes(AgentOptions options) =>
        [.. options.Destinations.SelectMany(d => d.Objects.Distinct(StringComparer.Ordinal).Select(o => new OutboxRoute(d.Name, o)))];

    /// <summary>Delivers until cancelled; returns at once when no destination is configured.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (Names.Count == 0)
        {
            return;
        }

        DicomDestination.ClearWorkFolder(_workFolder);
        var pending = _database.Outbox.Summarize(DateTimeOffset.UtcNow).Pending.Sum(p => p.Count);
        var names = string.Join(", ", Names);
        OutboxLog.Started(_logger, Names.Count, names, pending);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        do
        {
            await SendDueAsync(DateTimeOffset.UtcNow, cancellationToken).ConfigureAwait(false);
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    /// <summary>One round: the due rows in the ledger's order; a destination that fails is skipped for the rest of the round.</summary>
    internal async Task SendDueAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var failed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in _database.Outbox.Due(Names, now, RowsPerRound))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (failed.Contains(item.Destination))
            {
                continue;
            }

            try
            {
                var series = _database.Results.Stored(item.SeriesInstanceUid)
                    ?? throw new InvalidDataException("the series of this outbox row is not in the database");
                await _destinations[item.Destination].DeliverAsync(item.Kind, series, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // Whatever went wrong with this object is this row's failed attempt, never the agent's end: a failure
                // here would come back at every restart.
                failed.Add(item.Destination);
                Failed(item, e);
                continue;
            }

            _database.Outbox.MarkSent(item.Id);
            _failures.Remove(item.Destination);
            OutboxLog.Delivered(_logger, new ShortUid(item.SeriesInstanceUid), item.Kind, item.Version, item.Destination,
                item.Attempts > 0 ? $" after {item.Attempts} failed attempt(s)" : string.Empty);
            if (_downSince.TryRemove(item.Destination, out var since))
            {
                OutboxLog.DestinationBack(_logger, item.Destination, (now - since).TotalSeconds);
                _health.DestinationsDown = _downSince.Count;
            }
        }
    }

    private void Failed(OutboxItem item, Exception e)
    {
        var (error, detail) = e is DeliveryException d ? (d.Message, d.Detail) : (LogSafe.Error(e), null);
        var now = DateTimeOffset.UtcNow; // the pause counts from the failure, not from the round's start (a timeout takes 30 s)
        // Failures in a row of this destination (after a restart: at least as many as the row tried has seen), so
        // rows that arrive during an outage do not shorten the pause.
        var failures = Math.Max(_failures.GetValueOrDefault(item.Destination), item.Attempts) + 1;
        _failures[item.Destination] = failures;
        var pause = Pause(failures, _limit);
        _database.Outbox.MarkFailed(item, detail is null ? error : $"{error}: {detail}", now + pause);
        if (_downSince.TryAdd(item.Destination, now))
        {
            // Once per outage: every later failure of the same destination only moves its next attempt.
            OutboxLog.DestinationDown(_logger, item.Destination, error, pause.TotalSeconds, _limit.TotalSeconds);
            _health.DestinationsDown = _downSince.Count;
        }
    }

    /// <summary>The pause after the <paramref name="failures"/>-th failed attempt: 2 s, 4 s, 8 s … up to <paramref name="limit"/>.</summary>
    internal static TimeSpan Pause(int failures, TimeSpan limit) =>
        TimeSpan.FromSeconds(Math.Min(limit.TotalSeconds, FirstPause.TotalSeconds * Math.Pow(2, Math.Min(failures - 1, 30))));
}
