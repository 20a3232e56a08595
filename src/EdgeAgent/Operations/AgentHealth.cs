using System.Collections.Concurrent;

namespace EdgeMed.EdgeAgent.Operations;

/// <summary>The stages that report progress to <see cref="AgentHealth"/> (STATUS and the log name them).</summary>
public static class AgentStages
{
    /// <summary>Listing the share.</summary>
    public const string Scan = "scan";

    /// <summary>Hashing and decoding one file.</summary>
    public const string Read = "read";

    /// <summary>Normalizing, inferring and storing one series.</summary>
    public const string Classify = "classify";
}

/// <summary>
/// What the stages report about themselves; the lights, systemd's STATUS line and the watchdog read it. A stage is
/// busy from <see cref="Working"/> until the scope ends, and marks <see cref="Progressed"/> as it goes (per batch); a
/// stage that waits for input or for the next stage is not busy. Busy without progress for longer than the stall
/// timeout is a stall: the watchdog stops being fed, so systemd restarts a wedged service.
/// </summary>
public sealed class AgentHealth
{
    private readonly ConcurrentDictionary<string, long> _lastProgress = new(StringComparer.Ordinal);
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

    /// <summary>Destinations whose last delivery failed (results wait in the outbox).</summary>
    public int DestinationsDown { get; set; }

    /// <summary>Whether inference is running now.</summary>
    public bool Inferring => Volatile.Read(ref _inferring) > 0;

    /// <summary>Whether a series was flagged recently.</summary>
    public bool Alert => DateTime.UtcNow.Ticks < Interlocked.Read(ref _alertUntilTicks);

    /// <summary>How long a busy stage may go without progress before it counts as stalled.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Whether something needs a technician.</summary>
    public bool Fault => !ShareAvailable || DiskLow || !ModelLoaded || StorageFailed || DestinationsDown > 0 || StalledStage() is not null;

    /// <summary>Marks <paramref name="stage"/> busy until the returned scope is disposed.</summary>
    public StageScope Working(string stage)
    {
        _lastProgress[stage] = Environment.TickCount64;
        return new StageScope(this, stage);
    }

    /// <summary>Marks progress of a busy <paramref name="stage"/> (one batch done): its stall clock starts again.</summary>
    public void Progressed(string stage)
    {
        if (_lastProgress.ContainsKey(stage))
        {
            _lastProgress[stage] = Environment.TickCount64;
        }
    }

    /// <summary>The stage busy without progress for longer than <see cref="StallTimeout"/>, if any, and for how long.</summary>
    public (string Stage, TimeSpan For)? StalledStage()
    {
        var now = Environment.TickCount64;
        foreach (var (stage, since) in _lastProgress)
        {
            var quiet = TimeSpan.FromMilliseconds(now - since);
            if (quiet > StallTimeout)
            {
                return (stage, quiet);
            }
        }

        return null;
    }

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
        (StalledStage() is { } stalled ? $"STALLED: {stalled.Stage} without progress for {stalled.For.TotalSeconds:F0} s; " : "")
        + (ModelLoaded ? "" : "waiting for a model package; ")
        + (ShareAvailable ? "" : "share unavailable; ")
        + (DiskLow ? "intake paused: disk low; " : "")
        + (StorageFailed ? "database write failed; " : "")
        + (DestinationsDown > 0 ? $"{DestinationsDown} destination(s) unreachable; " : "")
        + $"{FilesRead} files read, {SeriesStored} series stored";

    /// <summary>Ends a stage's busy mark.</summary>
    public readonly struct StageScope(AgentHealth health, string stage) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose() => health._lastProgress.TryRemove(stage, out _);
    }

    /// <summary>Ends an inference mark.</summary>
    public readonly struct InferenceScope(AgentHealth health) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose() => Interlocked.Decrement(ref health._inferring);
    }
}
