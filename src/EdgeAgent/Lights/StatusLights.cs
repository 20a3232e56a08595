using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Operations;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeMed.EdgeAgent.Lights;

/// <summary>
/// Shows <see cref="AgentHealth"/> on four lights, redrawn twice a second: ready steady, busy blinking while
/// inferring, alert after a flagged series, fault while something needs a technician (ready is dark then).
/// </summary>
public sealed class StatusLights(ILightDriver driver, AgentHealth health, IOptions<AgentOptions> options, ILogger<StatusLights> logger) : BackgroundService
{
    private readonly LightOptions _pins = options.Value.Lights;
    private bool _blink;

    /// <summary>Draws the lights once; <paramref name="blinkPhase"/> alternates the busy light.</summary>
    internal void Draw(bool blinkPhase)
    {
        Set(_pins.ReadyPin, !health.Fault);
        Set(_pins.BusyPin, health.Inferring && blinkPhase);
        Set(_pins.AlertPin, health.Alert);
        Set(_pins.FaultPin, health.Fault);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Log.LightsDriver(logger, driver.Description);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        try
        {
            do
            {
                _blink = !_blink;
                Draw(_blink);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            foreach (var pin in new[] { _pins.ReadyPin, _pins.BusyPin, _pins.AlertPin, _pins.FaultPin })
            {
                Set(pin, false);
            }
        }
    }

    private void Set(int pin, bool lit)
    {
        if (pin >= 0)
        {
            driver.Drive(pin, lit);
        }
    }
}
