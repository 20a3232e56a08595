using System.Runtime.InteropServices;

namespace EdgeMed.EdgeAgent.Lights;

/// <summary>
/// GPIO output lines through libgpiod 1.6 (Debian <c>libgpiod2</c>): the chip is opened once, each wired line requested
/// as an output owned by "edgemed", dark at start. Polarity (active-low wiring) is applied here.
/// </summary>
public sealed partial class GpiodLightDriver : ILightDriver
{
    private const string Library = "libgpiod.so.2";
    private readonly ChipHandle _chip;
    private readonly Dictionary<int, IntPtr> _lines = [];
    private readonly bool _activeLow;

    private GpiodLightDriver(ChipHandle chip, string chipName, bool activeLow)
    {
        _chip = chip;
        _activeLow = activeLow;
        Description = $"libgpiod chip {chipName}{(activeLow ? " (active low)" : "")}";
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>
    /// Opens <paramref name="chip"/> (name, path or number) and requests <paramref name="pins"/> as outputs; returns a
    /// <see cref="NullLightDriver"/> saying why when there is no such chip or no libgpiod.
    /// </summary>
    public static ILightDriver Open(string chip, IEnumerable<int> pins, bool activeLow)
    {
        ArgumentNullException.ThrowIfNull(pins);
        var device = chip.StartsWith('/') ? chip : "/dev/" + (int.TryParse(chip, out var n) ? $"gpiochip{n}" : chip);
        if (!File.Exists(device))
        {
            return new NullLightDriver($"no GPIO chip {device}: lights off");
        }

        ChipHandle handle;
        try
        {
            handle = gpiod_chip_open_lookup(chip);
        }
        catch (DllNotFoundException)
        {
            return new NullLightDriver($"{Library} not installed (Debian libgpiod2): lights off");
        }

        if (handle.IsInvalid)
        {
            return new NullLightDriver($"cannot open GPIO chip {chip} (errno {Marshal.GetLastPInvokeError()}): lights off");
        }

        var driver = new GpiodLightDriver(handle, chip, activeLow);
        foreach (var pin in pins)
        {
            var line = gpiod_chip_get_line(handle, (uint)pin);
            if (line == IntPtr.Zero || gpiod_line_request_output(line, "edgemed", activeLow ? 1 : 0) != 0)
            {
                driver.Dispose();
                return new NullLightDriver($"GPIO line {pin} of {chip} cannot be requested as an output (errno {Marshal.GetLastPInvokeError()}): lights off");
            }

            driver._lines[pin] = line;
        }

        return driver;
    }

    /// <inheritdoc />
    public void Drive(int pin, bool lit)
    {
        if (_lines.TryGetValue(pin, out var line))
        {
            _ = gpiod_line_set_value(line, lit != _activeLow ? 1 : 0);
        }
    }

    /// <summary>Turns the lines off, releases them and closes the chip.</summary>
    public void Dispose()
    {
        foreach (var (pin, line) in _lines)
        {
            Drive(pin, false);
            gpiod_line_release(line);
        }

        _lines.Clear();
        _chip.Dispose();
    }

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial ChipHandle gpiod_chip_open_lookup(string description);

    [LibraryImport(Library, SetLastError = true)]
    private static partial IntPtr gpiod_chip_get_line(ChipHandle chip, uint offset);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int gpiod_line_request_output(IntPtr line, string consumer, int defaultValue);

    [LibraryImport(Library, SetLastError = true)]
    private static partial int gpiod_line_set_value(IntPtr line, int value);

    [LibraryImport(Library)]
    private static partial void gpiod_line_release(IntPtr line);

    [LibraryImport(Library)]
    private static partial void gpiod_chip_close(IntPtr chip);

    /// <summary>A <c>struct gpiod_chip*</c>; lines belong to the chip and need no handle of their own.</summary>
    private sealed class ChipHandle() : SafeHandle(IntPtr.Zero, ownsHandle: true)
    {
        public override bool IsInvalid => handle == IntPtr.Zero;

        protected override bool ReleaseHandle()
        {
            gpiod_chip_close(handle);
            return true;
        }
    }
}
