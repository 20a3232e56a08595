namespace EdgeMed.EdgeAgent.Pipeline;

/// <summary>
/// Decoded pixels in flight between the reader and the end of inference, in bytes, against
/// EdgeMed:MaxBufferedMegabytes. The reader takes a file's bytes once it is decoded and admits the next file only
/// while the total is within the limit; the classifier gives a series' bytes back when it is done with it. So what
/// the agent holds is the limit plus at most one file, whatever the series' length or the channels' capacities.
/// </summary>
public sealed class SliceBudget(long limitBytes)
{
    private readonly Lock _lock = new();
    private long _used;
    private TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The limit, in bytes.</summary>
    public long Limit => limitBytes;

    /// <summary>Bytes held now.</summary>
    public long Used
    {
        get
        {
            lock (_lock)
            {
                return _used;
            }
        }
    }

    /// <summary>Counts bytes just decoded.</summary>
    public void Take(long bytes)
    {
        lock (_lock)
        {
            _used += bytes;
        }
    }

    /// <summary>Gives bytes back (their series was stored, failed or handed back) and wakes a reader waiting for room.</summary>
    public void Give(long bytes)
    {
        TaskCompletionSource released;
        lock (_lock)
        {
            _used -= bytes;
            released = _released;
            _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        released.TrySetResult();
    }

    /// <summary>Returns once the bytes held are within the limit.</summary>
    public async Task WaitForRoomAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task released;
            lock (_lock)
            {
                if (_used <= limitBytes)
                {
                    return;
                }

                released = _released.Task;
            }

            await released.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
