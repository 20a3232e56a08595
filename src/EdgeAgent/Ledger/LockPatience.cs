using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace EdgeMed.EdgeAgent.Ledger;

/// <summary>
/// Waits out another program's lock on the database (a technician's <c>sqlite3</c>, a backup tool) and a full file
/// system under it (another program filled the disk; the intake watermark only stops our own growth): a write
/// refused so is run again, with backoff, for up to <see cref="Timeout"/>, and the wait is logged once when it starts
/// and once when it ends. Only past that is the error thrown (and the agent exits for systemd to restart it). Safe
/// because every unit of work is one statement, idempotent statements, or one transaction, which SQLite has rolled
/// back when the error arrives.
/// </summary>
public sealed class LockPatience
{
    /// <summary>What one attempt may wait inside SQLite before coming back here (busy_timeout plus the driver's own retries).</summary>
    internal const int AttemptSeconds = 2;

    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(2);
    private readonly ILogger? _logger;

    /// <summary>Creates a patience of <paramref name="timeout"/>; <paramref name="logger"/> hears when a wait starts and ends.</summary>
    public LockPatience(TimeSpan timeout, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        Timeout = timeout;
        _logger = logger;
    }

    /// <summary>The tools' patience (queries, bench, tests): the driver's default of 30 s, silent.</summary>
    public static LockPatience Default { get; } = new(TimeSpan.FromSeconds(30));

    /// <summary>How long a unit of work may wait for the lock in all.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>The same patience (and logger), cut to <paramref name="timeout"/> when that is shorter.</summary>
    public LockPatience AtMost(TimeSpan timeout) => timeout < Timeout ? new LockPatience(timeout, _logger) : this;

    /// <summary>Whether SQLite refused because another connection holds the lock (SQLITE_BUSY, SQLITE_LOCKED).</summary>
    public static bool IsLockConflict(SqliteException e) => e?.SqliteErrorCode is 5 or 6;

    /// <summary>Whether SQLite refused because the file system is full (SQLITE_FULL).</summary>
    public static bool IsDiskFull(SqliteException e) => e?.SqliteErrorCode is 13;

    /// <summary>Runs <paramref name="attempt"/>, again after each lock conflict, until it succeeds or <see cref="Timeout"/> has passed.</summary>
    public T Run<T>(Func<T> attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        long waitingSince = 0;
        var waitedForSpace = false;
        var pause = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            try
            {
                var result = attempt();
                if (waitingSince != 0 && _logger is not null)
                {
                    var waited = Stopwatch.GetElapsedTime(waitingSince).TotalSeconds;
                    if (waitedForSpace)
                    {
                        Log.DatabaseSpaceBack(_logger, waited);
                    }
                    else
                    {
                        Log.DatabaseLockReleased(_logger, waited);
                    }
                }

                return result;
            }
            catch (SqliteException e) when (IsLockConflict(e) || IsDiskFull(e))
            {
                if (waitingSince == 0)
                {
                    waitingSince = Stopwatch.GetTimestamp();
                    waitedForSpace = IsDiskFull(e);
                    if (_logger is not null && waitedForSpace)
                    {
                        Log.DatabaseDiskFull(_logger, Timeout.TotalSeconds);
                    }
                    else if (_logger is not null)
                    {
                        Log.DatabaseLocked(_logger, Timeout.TotalSeconds);
                    }
                }
                else if (Stopwatch.GetElapsedTime(waitingSince) >= Timeout)
                {
                    var what = IsDiskFull(e) ? "the database's file system stayed full" : "the database stayed locked by another program";
                    throw new SqliteException($"{what} for {Stopwatch.GetElapsedTime(waitingSince).TotalSeconds:F0} s (EdgeMed:DatabaseBusyTimeout is {Timeout}): {e.Message}", e.SqliteErrorCode, e.SqliteExtendedErrorCode);
                }

                Thread.Sleep(pause);
                pause = pause * 2 < LongestPause ? pause * 2 : LongestPause;
            }
        }
    }
}
