using Microsoft.Extensions.Logging;

namespace EdgeMed.EdgeAgent.Outbox;

/// <summary>Log messages of the outbox (event ids 3900–3999). Destinations by their configured name, never their path or host.</summary>
internal static partial class OutboxLog
{
    [LoggerMessage(EventId = 3900, Level = LogLevel.Information, Message = "Outbox: {Destinations} destination(s) ({Names}); {Pending} objects pending from before")]
    internal static partial void Started(ILogger logger, int destinations, string names, long pending);

    [LoggerMessage(EventId = 3901, Level = LogLevel.Information, Message = "Series {SeriesUid}: {Kind} (version {Version}) delivered to {Destination}{Retried}")]
    internal static partial void Delivered(ILogger logger, ShortUid seriesUid, string kind, long version, string destination, string retried);

    [LoggerMessage(EventId = 3902, Level = LogLevel.Warning, Message = "Destination {Destination} unreachable ({Error}); results wait in the outbox, next attempt in {PauseSeconds:F0} s, pauses doubling up to {LimitSeconds:F0} s")]
    internal static partial void DestinationDown(ILogger logger, string destination, string error, double pauseSeconds, double limitSeconds);

    [LoggerMessage(EventId = 3903, Level = LogLevel.Information, Message = "Destination {Destination} reachable again after {DownSeconds:F0} s")]
    internal static partial void DestinationBack(ILogger logger, string destination, double downSeconds);

}
