using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Reports;

namespace EdgeMed.EdgeAgent.Outbox;

/// <summary>
/// Where result objects go (<c>EdgeMed:Destinations:N</c>). Each kind renders the object it needs from the stored
/// series (a file for a folder, a transaction for a FHIR server) at every attempt, so a resend is the same object.
/// </summary>
internal abstract class Destination
{
    /// <summary>Delivers one object of <paramref name="kind"/> for the series row; throws when the destination is unreachable or refuses it.</summary>
    public abstract Task DeliverAsync(string kind, StoredSeries series, CancellationToken cancellationToken);

    /// <summary>
    /// The destination a validated setting describes; <paramref name="workFolder"/> holds objects while a program
    /// sends them, <paramref name="heatmaps"/> is where the heatmaps a Secondary Capture shows are.
    /// </summary>
    public static Destination For(DestinationOptions options, HttpClient http, string workFolder, string heatmaps)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Kind switch
        {
            DestinationOptions.FolderKind => new FolderDestination(options.Folder, options.MountPoint, heatmaps),
            DestinationOptions.FhirKind => new FhirDestination(new Uri(options.Url), http),
            DestinationOptions.DicomKind => new DicomDestination(options, Path.Combine(workFolder, options.Name), heatmaps),
            _ => throw new InvalidOperationException($"unknown destination kind '{options.Kind}'"),
        };
    }

    /// <summary>The DICOM objects (PS3.10 files and their SOP instance UIDs) of a <c>dicom-sr</c> or <c>dicom-sc</c> row.</summary>
    protected static IReadOnlyList<(byte[] File, string SopInstanceUid)> DicomObjects(string kind, StoredSeries series, string heatmaps) => kind switch
    {
        OutboxObjects.DicomSr => [DicomSeriesReport.Build(series)],
        OutboxObjects.DicomSc => SecondaryCaptureReport.Build(series, heatmaps),
        _ => throw Unsupported(kind),
    };

    /// <summary>The kind this build cannot make for this destination (the validator keeps them out of the settings).</summary>
    protected static InvalidDataException Unsupported(string kind) => new($"this destination cannot take '{kind}' objects");
}

/// <summary>
/// A delivery failure whose message is our own (no path, no host, nothing the receiver wrote): logged as it is;
/// <see cref="Detail"/> (what the receiver said) goes only into the outbox row, for <c>agent outbox list</c>.
/// </summary>
internal sealed class DeliveryException(string message, string? detail = null) : IOException(message)
{
    /// <summary>The receiver's own words, if any.</summary>
    public string? Detail { get; } = detail;
}
