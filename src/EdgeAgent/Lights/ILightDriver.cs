namespace EdgeMed.EdgeAgent.Lights;

/// <summary>Sets GPIO output lines. The seam exists for hardware that may be absent: libgpiod on a device, nothing elsewhere.</summary>
public interface ILightDriver : IDisposable
{
    /// <summary>Describes the driver for the log (chip name, or why there is none).</summary>
    string Description { get; }

    /// <summary>Drives line <paramref name="pin"/> to lit or dark (polarity already applied by the driver).</summary>
    void Drive(int pin, bool lit);
}

/// <summary>The driver where no GPIO chip exists: does nothing.</summary>
public sealed class NullLightDriver(string why) : ILightDriver
{
    /// <inheritdoc />
    public string Description { get; } = why;

    /// <inheritdoc />
    public void Drive(int pin, bool lit)
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
