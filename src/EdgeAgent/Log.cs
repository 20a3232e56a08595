using Microsoft.Extensions.Logging;

namespace EdgeMed.EdgeAgent;

/// <summary>
/// Log messages of the agent (event ids 3000–3999: 30xx service, 31xx share, 32xx reader, 33xx assembler,
/// 34xx classifier, 35xx models, 36xx lights, 37xx disk, 38xx database; 39xx outbox in Outbox/OutboxLog.cs). Files are named by ledger id, never by path,
/// and the share by its setting's name, never its path: scanner exports
/// often name folders after patients. `agent quarantine list` and the database give paths to those allowed to see them.
/// Series UIDs appear shortened (<see cref="ShortUid"/>): in full they often carry the scan's date and the scanner's serial.
/// </summary>
internal static partial class Log
{

    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "Agent starting: models {Models}, database {Database}; {Unfinished} unfinished files from before are taken up again")]
    internal static partial void AgentStarting(ILogger logger, string models, string database, long unfinished);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Agent stopped: {FilesRead} files read, {SeriesStored} series stored; unfinished work stays in the ledger")]
    internal static partial void AgentStopped(ILogger logger, long filesRead, long seriesStored);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Critical, Message = "Agent failed ({Kind}: {Error}); exiting so systemd restarts it (the ledger resumes the work)")]
    internal static partial void AgentFailed(ILogger logger, string kind, string error);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Error, Message = "No usable model package in {Models}: series are read and wait until one is dropped in")]
    internal static partial void NoModel(ILogger logger, string models);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Every file on the share is finished ({SeriesStored} series stored this run); stopping as asked (--stop-when-idle)")]
    internal static partial void AgentIdle(ILogger logger, long seriesStored);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "CPU {Architecture}, {Cores} cores; int8 dot-product instructions: {Int8DotProduct} ({Instructions})")]
    internal static partial void CpuDescribed(ILogger logger, System.Runtime.InteropServices.Architecture architecture, int cores, bool int8DotProduct, string instructions);

    [LoggerMessage(EventId = 3100, Level = LogLevel.Warning, Message = "The share (EdgeMed:Share) is unavailable ({Reason}); scanning on until it returns")]
    internal static partial void ShareUnavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "The share (EdgeMed:Share) is available")]
    internal static partial void ShareAvailable(ILogger logger);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Information, Message = "File-system events unavailable ({Error}); periodic scans only")]
    internal static partial void WatcherUnavailable(ILogger logger, string error);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Warning, Message = "{Count} folders on the share could not be listed ({Errors}) and were skipped; the rest of the share is scanned")]
    internal static partial void ShareFoldersSkipped(ILogger logger, int count, string errors);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Information, Message = "Every folder on the share can be listed again")]
    internal static partial void ShareFoldersReadable(ILogger logger);

    [LoggerMessage(EventId = 3200, Level = LogLevel.Debug, Message = "File {FileId} read: series {SeriesUid}, {SliceCount} slices, {ElapsedMs:F1} ms")]
    internal static partial void FileAccepted(ILogger logger, long fileId, ShortUid seriesUid, int sliceCount, double elapsedMs);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "File {FileId} is a duplicate ({Reason}, first seen as file {OriginalId}); not classified again")]
    internal static partial void FileDuplicate(ILogger logger, long fileId, string reason, long originalId);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Information, Message = "File {FileId} ignored: {Reason} ({Detail})")]
    internal static partial void FileIgnored(ILogger logger, long fileId, string reason, string detail);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Warning, Message = "File {FileId} quarantined: {Reason} ({Detail}); moved: {Moved}")]
    internal static partial void FileQuarantined(ILogger logger, long fileId, string reason, string detail, bool moved);

    [LoggerMessage(EventId = 3204, Level = LogLevel.Warning, Message = "File {FileId}: {Reason} on attempt {Attempt} of {MaxAttempts}; trying again")]
    internal static partial void FileRetried(ILogger logger, long fileId, string reason, int attempt, int maxAttempts);

    [LoggerMessage(EventId = 3206, Level = LogLevel.Information, Message = "File {FileId} looks incomplete ({Reason}); read again when it changes or after a pause, quarantined if it stays so for {WindowSeconds:F0} s")]
    internal static partial void FileIncomplete(ILogger logger, long fileId, string reason, double windowSeconds);

    [LoggerMessage(EventId = 3208, Level = LogLevel.Warning, Message = "File {FileId} cannot be read by the agent's account ({Error}); read again every {RetrySeconds:F0} s until its permissions allow it")]
    internal static partial void FilePermissionDenied(ILogger logger, long fileId, string error, double retrySeconds);

    [LoggerMessage(EventId = 3209, Level = LogLevel.Warning, Message = "File {FileId} could not be read ({Error}: a network share gone stale, a failing disk?); read again every {RetrySeconds:F0} s")]
    internal static partial void FileReadError(ILogger logger, long fileId, string error, double retrySeconds);

    [LoggerMessage(EventId = 3207, Level = LogLevel.Information, Message = "File {FileId} moved inside the share; its row follows it (state {State})")]
    internal static partial void FileMoved(ILogger logger, long fileId, string state);

    [LoggerMessage(EventId = 3205, Level = LogLevel.Information, Message = "File {FileId} vanished before it was read; taken again if it returns")]
    internal static partial void FileVanished(ILogger logger, long fileId);

    [LoggerMessage(EventId = 3300, Level = LogLevel.Warning, Message = "Series {SeriesUid} passed on before its quiet period: {BufferedMb:F0} MB of slices waiting, over half of EdgeMed:MaxBufferedMegabytes ({LimitMb}); later instances form a later part")]
    internal static partial void SeriesFlushedEarly(ILogger logger, ShortUid seriesUid, double bufferedMb, long limitMb);

    [LoggerMessage(EventId = 3400, Level = LogLevel.Information, Message = "Series {SeriesUid}: {SliceCount} slices ({NewSlices} new) → {Class} p={Confidence:F3} low_confidence={LowConfidence} flags={Flags} normalize {NormalizeMs:F0} ms, inference {InferenceMs:F0} ms, model {Model}")]
    internal static partial void SeriesClassified(ILogger logger, ShortUid seriesUid, int sliceCount, int newSlices, string @class, double confidence, bool lowConfidence, string flags, double normalizeMs, double inferenceMs, string model);

    [LoggerMessage(EventId = 3401, Level = LogLevel.Error, Message = "Series {SeriesUid} failed: {Error}; its files will be read again")]
    internal static partial void SeriesFailed(ILogger logger, ShortUid seriesUid, string error);

    [LoggerMessage(EventId = 3402, Level = LogLevel.Information, Message = "Series {SeriesUid}: {Count} heatmap(s) of class {Class} written in {Milliseconds:F0} ms")]
    internal static partial void HeatmapsWritten(ILogger logger, ShortUid seriesUid, int count, string @class, double milliseconds);

    [LoggerMessage(EventId = 3404, Level = LogLevel.Warning, Message = "Model {Name} ({Arch}): no heatmaps (EdgeMed:HeatmapSlices is set, but its graph does not end in the IConvNeXt head they are computed for)")]
    internal static partial void NoHeatmaps(ILogger logger, string name, string arch);

    [LoggerMessage(EventId = 3403, Level = LogLevel.Warning, Message = "Series {SeriesUid}: no heatmaps ({Error}); its result is stored without them")]
    internal static partial void HeatmapsFailed(ILogger logger, ShortUid seriesUid, string error);

    [LoggerMessage(EventId = 3500, Level = LogLevel.Information, Message = "Model {Name} {Version} loaded (sha256 {Sha256}, {Precision}, {Classes} classes) on {Provider}")]
    internal static partial void ModelLoaded(ILogger logger, string name, string version, string sha256, string precision, int classes, EdgeMed.Onnx.Runtime.ExecutionProvider provider);

    [LoggerMessage(EventId = 3501, Level = LogLevel.Information, Message = "Model swapped: {OldName} {OldVersion} → {Name} {Version} (sha256 {Sha256}); series in flight finish on the old one")]
    internal static partial void ModelSwapped(ILogger logger, string oldName, string oldVersion, string name, string version, string sha256);

    [LoggerMessage(EventId = 3502, Level = LogLevel.Error, Message = "Model package {Package} refused: {Reason}; in use: {Current}")]
    internal static partial void ModelRefused(ILogger logger, string package, string reason, string current);

    [LoggerMessage(EventId = 3504, Level = LogLevel.Warning, Message = "Execution provider {Provider} unavailable ({Reason}); inference runs on the CPU")]
    internal static partial void ProviderFallback(ILogger logger, EdgeMed.Onnx.Runtime.ExecutionProvider provider, string reason);

    [LoggerMessage(EventId = 3503, Level = LogLevel.Warning, Message = "Models folder {Folder} does not exist")]
    internal static partial void ModelsFolderMissing(ILogger logger, string folder);

    [LoggerMessage(EventId = 3600, Level = LogLevel.Information, Message = "Status lights: {Driver}")]
    internal static partial void LightsDriver(ILogger logger, string driver);

    [LoggerMessage(EventId = 3700, Level = LogLevel.Warning, Message = "Intake paused: {FreeMb} MB free, below the {MinimumMb} MB watermark")]
    internal static partial void IntakePausedDiskLow(ILogger logger, long freeMb, long minimumMb);

    [LoggerMessage(EventId = 3701, Level = LogLevel.Information, Message = "Intake resumed: {FreeMb} MB free (watermark {MinimumMb} MB)")]
    internal static partial void IntakeResumed(ILogger logger, long freeMb, long minimumMb);

    [LoggerMessage(EventId = 3800, Level = LogLevel.Warning, Message = "The database is locked by another program (sqlite3, a backup?); waiting up to {TimeoutSeconds:F0} s (EdgeMed:DatabaseBusyTimeout)")]
    internal static partial void DatabaseLocked(ILogger logger, double timeoutSeconds);

    [LoggerMessage(EventId = 3801, Level = LogLevel.Information, Message = "The database lock was released after {WaitedSeconds:F1} s; work goes on")]
    internal static partial void DatabaseLockReleased(ILogger logger, double waitedSeconds);

    [LoggerMessage(EventId = 3802, Level = LogLevel.Warning, Message = "The database's file system is full; writes wait for space up to {TimeoutSeconds:F0} s (EdgeMed:DatabaseBusyTimeout)")]
    internal static partial void DatabaseDiskFull(ILogger logger, double timeoutSeconds);

    [LoggerMessage(EventId = 3803, Level = LogLevel.Information, Message = "The database's file system has space again after {WaitedSeconds:F1} s; work goes on")]
    internal static partial void DatabaseSpaceBack(ILogger logger, double waitedSeconds);
}

/// <summary>Exceptions as log lines may show them.</summary>
internal static class LogSafe
{
    /// <summary>
    /// File-system errors by kind and code only (their messages name the file or folder, often after a patient); the
    /// others' messages are the driver's or our own.
    /// </summary>
    public static string Error(Exception e) => e is IOException or UnauthorizedAccessException
        ? $"{e.GetType().Name} 0x{e.HResult:X8}"
        : e.Message.ReplaceLineEndings(" ");
}

/// <summary>A UID as log lines show it: its last 12 characters, as <c>results --format table</c> does (shortened only when a line is written).</summary>
internal readonly record struct ShortUid(string Uid)
{
    public override string ToString() => Uid.Length <= 12 ? Uid : "…" + Uid[^12..];
}
