using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Models;
using EdgeMed.EdgeAgent.Outbox;
using EdgeMed.EdgeAgent.Pipeline;
using EdgeMed.EdgeAgent.Share;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeMed.EdgeAgent.Operations;

/// <summary>
/// The service: loads the newest model before the host reports started (so READY means ready to classify), then runs
/// the share scanner, the pipeline and the models-folder watch until stopped. Work in flight at a stop is not lost:
/// the ledger holds every unfinished file and the next start takes it up again.
/// </summary>
public sealed class AgentService(
    AgentDatabase database, ModelCatalog models, ShareScanner scanner, AgentPipeline pipeline, OutboxSender outbox, AgentHealth health,
    IOptions<AgentOptions> options, IHostApplicationLifetime lifetime, ILogger<AgentService> logger) : BackgroundService
{
    /// <summary>
    /// How long start-up waits out a locked database or a full disk: well inside systemd's TimeoutStartSec (90 s on the
    /// PC) with the model load, so the start fails in one line rather than by a timeout. After READY the full
    /// EdgeMed:DatabaseBusyTimeout applies.
    /// </summary>
    internal static readonly TimeSpan StartUpDatabasePatience = TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        try
        {
            database.WithPatienceAtMost(StartUpDatabasePatience, () =>
            {
                database.Status.Set(StatusKeys.Process, $"pid {Environment.ProcessId}, started {AgentDatabase.Format(DateTimeOffset.UtcNow)}");
                var cpu = CpuFeatures.OfThisMachine();
                Log.CpuDescribed(logger, cpu.Architecture, Environment.ProcessorCount, cpu.Int8DotProduct, cpu.Instructions);
                models.Scan();
                if (models.Current is null)
                {
                    Log.NoModel(logger, o.Models);
                    database.Status.Set(StatusKeys.Model, "none: waiting for a model package in " + o.Models);
                }

                var unfinished = database.Files.CountUnfinished();
                Log.AgentStarting(logger, o.Models, o.Database, unfinished);
            });
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException)
        {
            // The same one line as a failure later on, not the host's stack trace; the service part never starts.
            Fail(e);
            return Task.CompletedTask;
        }

        return base.StartAsync(cancellationToken);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        // The first part to fail stops the others at once: waiting for all of them would leave a process that looks
        // alive (lights, heartbeat, watchdog) while its pipeline is gone.
        using var anyFailed = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var token = anyFailed.Token;
        async Task Part(Func<Task> body)
        {
            try
            {
                await body().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                await anyFailed.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }

        var files = AgentPipeline.CreateFileQueue();
        scanner.TrackFinished = o.StopWhenIdle;
        var scan = Part(() => Task.Run(async () =>
        {
            try
            {
                await scanner.RunAsync(files.Writer, token).ConfigureAwait(false);
            }
            finally
            {
                files.Writer.TryComplete();
            }
        }, token));
        var run = Part(() => pipeline.RunAsync(files.Reader, scanner.Forget, o.SeriesQuietPeriod, token));
        var watchModels = Part(() => models.RunAsync(token));
        var heartbeat = Part(() => HeartbeatAsync(token));
        var send = Part(() => outbox.RunAsync(token));
        var parts = Task.WhenAll(scan, run, watchModels, heartbeat, send);
        try
        {
            await parts.ConfigureAwait(false);
        }
        catch (Exception) when (parts.Exception?.InnerExceptions.FirstOrDefault(e => e is not OperationCanceledException) is { } failure)
        {
            // Not rethrown: the host would log the same failure a second time.
            Fail(failure);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            Log.AgentStopped(logger, health.FilesRead, health.SeriesStored);
        }
    }

    /// <summary>
    /// Logs the failure once (kind and message, no stack trace, no paths), asks the host to stop and makes the process
    /// exit non-zero: systemd restarts it and the ledger resumes the work.
    /// </summary>
    private void Fail(Exception failure)
    {
        Environment.ExitCode = 1;
        var error = LogSafe.Error(failure);
        var kind = failure.GetType().Name;
        Log.AgentFailed(logger, kind, error);
        if (failure is not Microsoft.Data.Sqlite.SqliteException)
        {
            TryRecord(StatusKeys.LastError, error); // not when the database is what failed: that write would wait out its patience again
        }

        lifetime.StopApplication();
    }

    /// <summary>Records a status value; a database error here is already being reported.</summary>
    private void TryRecord(string key, string value)
    {
        try
        {
            database.Status.Set(key, value);
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
        }
    }

    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var tick = 0;
        do
        {
            if (tick++ % 5 == 0)
            {
                database.Status.Set(StatusKeys.Health, health.Describe());
            }

            // --stop-when-idle: every file on the share is finished, nothing is left in the ledger, and every result
            // object due for a reachable destination has been tried (those of a destination that failed wait for a later run).
            if (options.Value.StopWhenIdle && scanner.ShareFinished && database.Files.CountActionable() == 0 && database.Outbox.CountDue(outbox.ReachableNames, DateTimeOffset.UtcNow) == 0)
            {
                Log.AgentIdle(logger, health.SeriesStored);
                lifetime.StopApplication();
                return;
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }
}
