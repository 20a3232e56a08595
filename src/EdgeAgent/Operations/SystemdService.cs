using Microsoft.Extensions.Hosting;

namespace EdgeMed.EdgeAgent.Operations;

/// <summary>
/// Speaks systemd's notify protocol for the service: READY=1 once the host has started (model loaded, database open),
/// STATUS= with the agent's health line, WATCHDOG=1 at half the interval systemd asked for, STOPPING=1 on stop.
/// </summary>
public sealed class SystemdService(SystemdNotifier notifier, AgentHealth health, IHostApplicationLifetime lifetime) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!notifier.IsEnabled)
        {
            return;
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onStarted = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        using var onStopping = lifetime.ApplicationStopping.Register(notifier.Stopping);
        try
        {
            await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
            notifier.Ready();
            notifier.Status(health.Describe());
            var period = notifier.WatchdogInterval is { } w ? w / 2 : TimeSpan.FromSeconds(5);
            using var timer = new PeriodicTimer(period);
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (notifier.WatchdogInterval is not null)
                {
                    notifier.Watchdog();
                }

                notifier.Status(health.Describe());
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
