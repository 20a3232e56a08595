using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Models;
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
    AgentDatabase database, ModelCatalog models, ShareScanner scanner, AgentPipeline pipeline, AgentHealth health,
    IOptions<AgentOptions> options, IHostApplicationLifetime lifetime, ILogger<AgentService> logger) : BackgroundService
{
    /// <inheritdoc />
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
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
        Log.AgentStarting(logger, o.Share, o.Models, o.Database, unfinished);
        return base.StartAsync(cancellationToken);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        var files = AgentPipeline.CreateFileQueue();
        var scan = Task.Run(async () =>
        {
            try
            {
                await scanner.RunAsync(files.Writer, stoppingToken).ConfigureAwait(false);
            }
            finally
            {
                files.Writer.TryComplete();
            }
        }, stoppingToken);
        var run = pipeline.RunAsync(files.Reader, scanner.Forget, o.SeriesQuietPeriod, stoppingToken);
        var watchModels = models.RunAsync(stoppingToken);
        var heartbeat = HeartbeatAsync(stoppingToken);
        scanner.TrackFinished = o.StopWhenIdle;
        try
        {
            await Task.WhenAll(scan, run, watchModels, heartbeat).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            Log.AgentStopped(logger, health.FilesRead, health.SeriesStored);
        }
        catch (Exception e)
        {
            database.Status.Set(StatusKeys.LastError, e.Message);
            Log.AgentFailed(logger, e);
            Environment.ExitCode = 1; // systemd restarts the service; the ledger resumes the work
            throw;
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

            // --stop-when-idle: every file on the share is finished and nothing is left in the ledger.
            if (options.Value.StopWhenIdle && scanner.ShareFinished && database.Files.CountUnfinished() == 0)
            {
                Log.AgentIdle(logger, health.SeriesStored);
                lifetime.StopApplication();
                return;
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }
}
