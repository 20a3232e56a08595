using System.Diagnostics;
using System.Security.Cryptography;
using System.Threading.Channels;
using EdgeMed.DicomIngest;
using EdgeMed.DicomIngest.Slices;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Operations;
using EdgeMed.EdgeAgent.Share;
using Microsoft.Extensions.Logging;

namespace EdgeMed.EdgeAgent.Pipeline;

/// <summary>
/// The read stage: records the file in the ledger, reads it once, drops duplicates (same bytes, same SOP instance), counts
/// the attempt before decoding, decodes those bytes through DicomIngest (GDCM in its own process), filters modality and plane, and hands
/// the instance on. Refused files are quarantined with their reason; the stage itself keeps going.
/// </summary>
public sealed class InstanceReader
{
    private readonly AgentDatabase _database;
    private readonly DicomReader _reader;
    private readonly QuarantineFolder _quarantine;
    private readonly AgentHealth _health;
    private readonly ILogger _logger;
    private readonly int _maxAttempts;
    private readonly TimeSpan _incompleteWindow;
    private readonly TimeSpan _rereadPause;
    private readonly string _started = AgentDatabase.Now();
    private readonly HashSet<string> _modalities;
    private readonly HashSet<SlicePlane> _planes;

    /// <summary>Creates the stage.</summary>
    public InstanceReader(AgentDatabase database, DicomReader reader, QuarantineFolder quarantine, AgentOptions options, AgentHealth health, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _database = database;
        _reader = reader;
        _quarantine = quarantine;
        _health = health;
        _logger = logger;
        _maxAttempts = options.MaxAttempts;
        _incompleteWindow = options.IncompleteFileWindow;
        _rereadPause = options.RereadPause;
        _modalities = new HashSet<string>(options.Modalities.Select(m => m.Trim()), StringComparer.OrdinalIgnoreCase);
        _planes = [.. options.Planes.Select(p => Enum.Parse<SlicePlane>(p, ignoreCase: true))];
    }

    /// <summary>Reads files until <paramref name="input"/> completes; abandoned files are handed to <paramref name="abandon"/> to be offered again.</summary>
    public async Task RunAsync(ChannelReader<FileCandidate> input, ChannelWriter<ReadInstance> output, Action<FileCandidate> abandon, SliceBudget budget, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(abandon);
        ArgumentNullException.ThrowIfNull(budget);
        await foreach (var candidate in input.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            await budget.WaitForRoomAsync(cancellationToken).ConfigureAwait(false); // waits on inference, not a stall here
            ReadInstance? read;
            using (_health.Working(AgentStages.Read))
            {
                read = await ReadAsync(candidate, abandon, cancellationToken).ConfigureAwait(false);
            }

            if (read is not null)
            {
                budget.Take(read.Bytes);
                await output.WriteAsync(read, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>One file: the instance to classify, or null when it was finished here (duplicate, ignored, quarantined, vanished).</summary>
    public async Task<ReadInstance?> ReadAsync(FileCandidate candidate, Action<FileCandidate> abandon, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        ArgumentNullException.ThrowIfNull(abandon);
        var started = Stopwatch.GetTimestamp();
        var file = _database.Files.Register(candidate.Path, candidate.Size, candidate.ModifiedMs);
        if (FileStates.IsTerminal(file.State))
        {
            return null;
        }

        // Only regular files are opened: a FIFO would block the stage until a writer came, a link could lead anywhere.
        switch (ShareEntry.KindOf(candidate.Path))
        {
            case ShareEntryKind.Regular:
                break;
            case ShareEntryKind.Missing:
                Vanished(file, candidate, abandon, "gone before it was read");
                return null;
            case var kind:
                var reason = ShareEntry.ReasonOf(kind);
                _database.Files.SetState(file.Id, FileStates.Ignored, reason, $"not a regular file ({kind}); left in place, never opened");
                Log.FileIgnored(_logger, file.Id, reason, "not a regular file; left in place, never opened");
                return null;
        }

        // Work started before and never finished: the agent died on it (out of memory, a native fault) as often as
        // allowed. Checked before the file is read into memory, which can be what killed it.
        if (file.Attempts >= _maxAttempts)
        {
            QuarantineAfterCrashes(file);
            return null;
        }

        // One read: the ledger's hash, the header checks and the decoder all see these bytes, and the share is read
        // once (a network share's reads are what a slice costs most there). The attempt counts from here.
        var attempts = _database.Files.BeginAttempt(file.Id);
        byte[] content;
        try
        {
            content = _reader.ReadFile(candidate.Path);
        }
        catch (DicomIngestException e) when (e.Reason == IngestFailure.Unreadable)
        {
            _database.Files.EndAttempt(file.Id);
            switch (e.InnerException)
            {
                case UnauthorizedAccessException:
                    HoldBack(file, candidate, abandon, FileReasons.PermissionDenied, "permission denied");
                    break;
                case IOException io when io is not (FileNotFoundException or DirectoryNotFoundException) && File.Exists(candidate.Path):
                    HoldBack(file, candidate, abandon, FileReasons.ReadError, LogSafe.Error(io));
                    break;
                default:
                    Vanished(file, candidate, abandon, e.Message);
                    break;
            }

            return null;
        }
        catch (DicomIngestException e)
        {
            Quarantine(file, e.ReasonCode, e.Message); // too large, or a large file that is not DICOM: decided before reading it whole
            return null;
        }

        var sha256 = Convert.ToHexStringLower(SHA256.HashData(content));
        if (_database.Files.ClaimContent(file.Id, sha256) is { } original)
        {
            if (File.Exists(original.Path))
            {
                _database.Files.SetState(file.Id, FileStates.Duplicate, FileReasons.SameContent, $"same bytes as file {original.Id}");
                Log.FileDuplicate(_logger, file.Id, FileReasons.SameContent, original.Id);
                return null;
            }

            // The same bytes, and the first path is gone: the file moved. Its first row follows it, so the series is
            // classified once and no row points at a path that is gone.
            var inFlight = original.State == FileStates.Read && string.CompareOrdinal(original.UpdatedAt, _started) >= 0;
            file = _database.Files.MoveTo(original.Id, file.Id, candidate.Path, candidate.Size, candidate.ModifiedMs);
            Log.FileMoved(_logger, file.Id, file.State);
            if (FileStates.IsTerminal(file.State) || inFlight)
            {
                return null; // finished, or read by this run and waiting in the assembler
            }

            if (file.Attempts >= _maxAttempts)
            {
                QuarantineAfterCrashes(file); // the first row's own history
                return null;
            }

            attempts = _database.Files.BeginAttempt(file.Id);
        }

        while (true)
        {
            DicomInstance instance;
            try
            {
                instance = await _reader.ReadAsync(candidate.Path, content, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _database.Files.EndAttempt(file.Id);
                throw;
            }
            catch (DicomIngestException e) when (e.Reason is IngestFailure.DecoderCrashed or IngestFailure.DecoderTimeout)
            {
                // The decoder process died or hung on this file and was restarted; the agent lives on. Try again, up to the limit.
                if (attempts < _maxAttempts)
                {
                    _database.Files.SetState(file.Id, FileStates.Queued, e.ReasonCode, e.Message);
                    Log.FileRetried(_logger, file.Id, e.ReasonCode, attempts, _maxAttempts);
                    attempts = _database.Files.BeginAttempt(file.Id);
                    continue;
                }

                Quarantine(file, e.ReasonCode, $"{e.Message} ({attempts} attempts)");
                return null;
            }
            catch (DicomIngestException e) when (MayBeIncomplete(e.Reason) && Age(file) < _incompleteWindow)
            {
                // Perhaps still being written (a scanner that paused longer than the settle time): not the file's
                // fault yet. Read again when it changes, or after a pause; quarantined only if it stays so.
                _database.Files.EndAttempt(file.Id);
                _database.Files.SetState(file.Id, FileStates.Queued, FileReasons.Incomplete, $"{e.ReasonCode}: {e.Message}");
                Log.FileIncomplete(_logger, file.Id, e.ReasonCode, _incompleteWindow.TotalSeconds);
                abandon(candidate);
                return null;
            }
            catch (DicomIngestException e)
            {
                Quarantine(file, e.ReasonCode, e.Message);
                return null;
            }

            return Accept(file, candidate, instance, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    private void QuarantineAfterCrashes(FileRecord file)
    {
        var reason = file.Reason == ReasonCodes.Of(IngestFailure.DecoderCrashed) || file.Reason == ReasonCodes.Of(IngestFailure.DecoderTimeout) ? file.Reason : FileReasons.AgentCrashed;
        Quarantine(file, reason, $"{file.Attempts} attempts ended without a result (the agent or its decoder stopped while working on this file)");
    }

    private ReadInstance? Accept(FileRecord file, FileCandidate candidate, DicomInstance instance, double readMs)
    {
        var m = instance.Metadata;
        if (string.IsNullOrEmpty(m.SeriesInstanceUid))
        {
            Quarantine(file, FileReasons.MissingSeriesUid, "the instance has no Series Instance UID, so it cannot be grouped");
            return null;
        }

        if (string.IsNullOrWhiteSpace(m.SopInstanceUid))
        {
            Quarantine(file, FileReasons.MissingSopInstanceUid, "the instance has no SOP Instance UID, so its duplicates cannot be told apart");
            return null;
        }

        if (!_modalities.Contains(m.Modality ?? string.Empty))
        {
            Ignore(file, m, FileReasons.ModalityFiltered, $"modality {m.Modality ?? "(none)"} is not in {string.Join(", ", _modalities)}");
            return null;
        }

        var slices = instance.Slices.Where(s => _planes.Contains(s.Plane)).ToList();
        if (slices.Count == 0)
        {
            var planes = string.Join(", ", instance.Slices.Select(s => s.Plane).Distinct());
            Ignore(file, m, FileReasons.PlaneFiltered, $"no {string.Join("/", _planes)} slices (found {planes})");
            return null;
        }

        if (!_database.Files.MarkRead(file.Id, m.SopInstanceUid, m.SeriesInstanceUid))
        {
            Log.FileDuplicate(_logger, file.Id, FileReasons.SopInstanceSeen, 0);
            return null;
        }

        _health.FileRead();
        Log.FileAccepted(_logger, file.Id, new ShortUid(m.SeriesInstanceUid), slices.Count, readMs);
        return new ReadInstance(candidate, file.Id, m, slices, readMs, Stopwatch.GetTimestamp());
    }

    /// <summary>
    /// Refusals that a file still being written also gets: it ends early, or its pixels are not there yet. Not
    /// "not DICOM": a writer's first block already holds the preamble and "DICM", and a stray text file should go at once.
    /// </summary>
    internal static bool MayBeIncomplete(IngestFailure reason) =>
        reason is IngestFailure.Truncated or IngestFailure.InconsistentLength or IngestFailure.MissingPixelData or IngestFailure.DecodeFailed;

    private static TimeSpan Age(FileRecord file) =>
        DateTimeOffset.UtcNow - DateTimeOffset.Parse(file.FirstSeen, System.Globalization.CultureInfo.InvariantCulture);

    private void Ignore(FileRecord file, InstanceMetadata m, string reason, string detail)
    {
        _database.Files.SetState(file.Id, FileStates.Ignored, reason, detail, sopInstanceUid: m.SopInstanceUid, seriesInstanceUid: m.SeriesInstanceUid);
        Log.FileIgnored(_logger, file.Id, reason, detail);
    }

    private void Vanished(FileRecord file, FileCandidate candidate, Action<FileCandidate> abandon, string detail)
    {
        // Not the file's fault: the share went away or the file was removed. Offered again if it comes back.
        _database.Files.SetState(file.Id, FileStates.Queued, FileReasons.Vanished, detail);
        abandon(candidate);
        Log.FileVanished(_logger, file.Id);
    }

    private void HoldBack(FileRecord file, FileCandidate candidate, Action<FileCandidate> abandon, string reason, string error)
    {
        // Not the file's fault: said once per file version and reason, read again after a pause (the scanner holds it
        // back until then), so a chmod by the clinic's IT or a share that comes back is picked up without a restart.
        var first = file.Reason != reason;
        var detail = reason == FileReasons.PermissionDenied
            ? "the agent's account may not read it; read again after a pause"
            : $"{error}; read again after a pause";
        _database.Files.SetState(file.Id, FileStates.Queued, reason, detail);
        abandon(candidate);
        if (first && reason == FileReasons.PermissionDenied)
        {
            Log.FilePermissionDenied(_logger, file.Id, error, _rereadPause.TotalSeconds);
        }
        else if (first)
        {
            Log.FileReadError(_logger, file.Id, error, _rereadPause.TotalSeconds);
        }
    }

    private void Quarantine(FileRecord file, string reason, string detail)
    {
        // Ledger first: a crash between the two leaves a quarantined row and a file the scanner will not take again.
        var destination = _quarantine.Destination(file.Path);
        _database.Files.SetState(file.Id, FileStates.Quarantined, reason, detail, destination);
        var moved = destination is not null && QuarantineFolder.TryMove(file.Path, destination);
        if (destination is not null && !moved)
        {
            _database.Files.SetState(file.Id, FileStates.Quarantined, reason, detail + " (left in place: the share refused the move)", quarantinePath: string.Empty);
        }

        Log.FileQuarantined(_logger, file.Id, reason, detail, moved);
    }
}
