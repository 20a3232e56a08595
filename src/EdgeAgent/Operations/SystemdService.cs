using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;

namespace EdgeMed.EdgeAgent.Operations;

/// <summary>
/// What systemd hears from the service beyond READY and STOPPING (sent by Microsoft.Extensions.Hosting.Systemd's
/// lifetime): STATUS= with the agent's health line for <c>systemctl status</c>, and WATCHDOG=1 at half the interval
/// systemd asked for (<c>WATCHDOG_USEC</c>) while no stage is stalled (<see cref="AgentHealth.StalledStage"/>), so a
/// hung process and a wedged stage in a live one are both restarted.
/// </summary>
public sealed class SystemdService(ISystemdNotifier notifier, AgentHealth health, IHostApplicationLifetime lifetime) : BackgroundService
{
    /// <summary>The watchdog interval systemd asked for in <paramref name="watchdogUsec"/> (WATCHDOG_USEC), or null.</summary>
    public static TimeSpan? WatchdogInterval(string? watchdogUsec) =>
        long.TryParse(watchdogUsec, NumberStyles.Integer, CultureInfo.InvariantCulture, out var microseconds) && microseconds > 0
            ? TimeSpan.FromTicks(microseconds * 10)
            : null;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!notifier.IsEnabled)
        {
            return;
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onStarted = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        try
        {
            await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
            Status();
            var watchdog = WatchdogInterval(Environment.GetEnvironmentVariable("WATCHDOG_USEC"));
            using var timer = new PeriodicTimer(watchdog is { } w ? w / 2 : TimeSpan.FromSeconds(5));
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (watchdog is not null && health.StalledStage() is null)
                {
                    notifier.Notify(new ServiceState("WATCHDOG=1"));
                }

                Status();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Status() => notifier.Notify(new ServiceState("STATUS=" + health.Describe().ReplaceLineEndings(" ")));
}
