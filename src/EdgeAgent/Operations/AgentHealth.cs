namespace EdgeMed.EdgeAgent.Operations;

/// <summary>What the stages report about themselves; the lights, systemd's STATUS line and the watchdog read it.</summary>
public sealed class AgentHealth
{
    private long _alertUntilTicks;
    private int _inferring;

    /// <summary>The share could be listed at the last scan.</summary>
    public bool ShareAvailable { get; set; } = true;

    /// <summary>Intake is paused for lack of disk space.</summary>
    public bool DiskLow { get; set; }

    /// <summary>A model is loaded.</summary>
    public bool ModelLoaded { get; set; }

    /// <summary>The last database write failed.</summary>
    public bool StorageFailed { get; set; }

    /// <summary>Whether inference is running now.</summary>
    public bool Inferring => Volatile.Read(ref _inferring) > 0;

    /// <summary>Whether a series was flagged recently.</summary>
    public bool Alert => DateTime.UtcNow.Ticks < Interlocked.Read(ref _alertUntilTicks);

    /// <summary>Whether something needs a technician.</summary>
    public bool Fault => !ShareAvailable || DiskLow || !ModelLoaded || StorageFailed;

    /// <summary>Files read and series stored since start.</summary>
    public long FilesRead { get; private set; }

    /// <summary>Series stored since start.</summary>
    public long SeriesStored { get; private set; }

    /// <summary>Marks inference running until the returned scope is disposed.</summary>
    public InferenceScope BeginInference()
    {
        Interlocked.Increment(ref _inferring);
        return new InferenceScope(this);
    }

    /// <summary>Turns the alert on for <paramref name="hold"/>.</summary>
    public void RaiseAlert(TimeSpan hold) => Interlocked.Exchange(ref _alertUntilTicks, (DateTime.UtcNow + hold).Ticks);

    /// <summary>Counts a file read.</summary>
    public void FileRead() => FilesRead++;

    /// <summary>Counts a series stored.</summary>
    public void SeriesStoredNow() => SeriesStored++;

    /// <summary>A one-line summary for systemd's STATUS.</summary>
    public string Describe() =>
        (ModelLoaded ? "" : "waiting for a model package; ")
        + (ShareAvailable ? "" : "share unavailable; ")
        + (DiskLow ? "intake paused: disk low; " : "")
        + (StorageFailed ? "database write failed; " : "")
        + $"{FilesRead} files read, {SeriesStored} series stored";

    /// <summary>Ends an inference mark.</summary>
    public readonly struct InferenceScope(AgentHealth health) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose() => Interlocked.Decrement(ref health._inferring);
    }
}
