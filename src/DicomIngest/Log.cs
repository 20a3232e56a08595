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

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "Refused {File}: {Reason} ({Detail})")]
    internal static partial void FileRefused(ILogger logger, string file, string reason, string detail);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Debug, Message = "Read {File}: series {SeriesUid}, {SliceCount} slices, {Plane}, {ElapsedMs:F1} ms")]
    internal static partial void FileRead(ILogger logger, string file, string seriesUid, int sliceCount, string plane, double elapsedMs);
}
