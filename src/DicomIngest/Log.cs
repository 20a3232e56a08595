using Microsoft.Extensions.Logging;

namespace EdgeMed.DicomIngest;

/// <summary>Log messages of the DICOM ingest (event ids 1000–1999). No patient identifiers, ever.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Decoder process {ProcessId} started (start {Starts})")]
    internal static partial void DecoderStarted(ILogger logger, int processId, int starts);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Decoder process died ({Exit}); it will be restarted. Last stderr: {Stderr}")]
    internal static partial void DecoderCrashed(ILogger logger, string exit, string stderr);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Decoder did not answer within {TimeoutSeconds} s; killed and restarted")]
    internal static partial void DecoderTimedOut(ILogger logger, double timeoutSeconds);

    // No file names (scanner exports name files and folders after patients) and no full UIDs: the caller logs which
    // file it was by its own id.
    [LoggerMessage(EventId = 1010, Level = LogLevel.Debug, Message = "Refused a file: {Reason} ({Detail})")]
    internal static partial void FileRefused(ILogger logger, string reason, string detail);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Debug, Message = "Read a file: {SliceCount} slices, {Plane}, {ElapsedMs:F1} ms")]
    internal static partial void FileRead(ILogger logger, int sliceCount, string plane, double elapsedMs);
}
