using System.Device.Gpio;
using System.Device.Gpio.Drivers;

namespace EdgeMed.EdgeAgent.Lights;

/// <summary>
/// GPIO output lines through System.Device.Gpio's libgpiod driver (Debian <c>libgpiod2</c>): the chip is opened once,
/// each wired line opened as an output, dark at start. Polarity (active-low wiring) is applied here.
/// </summary>
public sealed class GpioLightDriver : ILightDriver
{
    private readonly GpioController _controller;
    private readonly int[] _pins;
    private readonly bool _activeLow;

    private GpioLightDriver(GpioController controller, int[] pins, string chip, bool activeLow)
    {
        _controller = controller;
        _pins = pins;
        _activeLow = activeLow;
        Description = $"libgpiod chip {chip}{(activeLow ? " (active low)" : "")}";
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>
    /// Opens <paramref name="chip"/> (<c>gpiochipN</c>, <c>/dev/gpiochipN</c> or <c>N</c>) and its <paramref name="pins"/>
    /// as outputs; returns a <see cref="NullLightDriver"/> saying why when there is no such chip, no libgpiod, or a
    /// line another program holds. The lights are an aid: their absence never stops the agent.
    /// </summary>
    public static ILightDriver Open(string chip, IEnumerable<int> pins, bool activeLow)
    {
        ArgumentNullException.ThrowIfNull(chip);
        ArgumentNullException.ThrowIfNull(pins);
        var name = Path.GetFileName(chip);
        if (!int.TryParse(name.StartsWith("gpiochip", StringComparison.Ordinal) ? name["gpiochip".Length..] : name, out var number) || number < 0)
        {
            return new NullLightDriver($"GPIO chip '{chip}' is not gpiochipN, /dev/gpiochipN or a number: lights off");
        }

        if (!File.Exists($"/dev/gpiochip{number}"))
        {
            return new NullLightDriver($"no GPIO chip /dev/gpiochip{number}: lights off");
        }

        var lines = pins.Distinct().ToArray();
        GpioController? controller = null;
        try
        {
            controller = new GpioController(new LibGpiodDriver(number));
            foreach (var pin in lines)
            {
                controller.OpenPin(pin, PinMode.Output, Level(lit: false, activeLow));
            }

            return new GpioLightDriver(controller, lines, $"gpiochip{number}", activeLow);
        }
        catch (Exception e) when (e is PlatformNotSupportedException or IOException or InvalidOperationException or UnauthorizedAccessException or ArgumentException)
        {
            controller?.Dispose();
            return new NullLightDriver($"GPIO chip gpiochip{number} unusable ({e.Message}): lights off");
        }
    }

    /// <inheritdoc />
    public void Drive(int pin, bool lit)
    {
        if (_pins.Contains(pin))
        {
            _controller.Write(pin, Level(lit, _activeLow));
        }
    }

    /// <summary>Turns the lines off and releases the chip.</summary>
    public void Dispose()
    {
        // The controller closes every pin it opened; dark first, so nothing stays lit after the agent.
        foreach (var pin in _pins)
        {
            Drive(pin, false);
        }

        _controller.Dispose();
    }

    private static PinValue Level(bool lit, bool activeLow) => lit != activeLow ? PinValue.High : PinValue.Low;
}
