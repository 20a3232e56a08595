using System.Text;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Reports;
using EdgeMed.EdgeAgent.Share;

namespace EdgeMed.EdgeAgent.Outbox;

/// <summary>
/// A destination folder (a record system's import folder, a mounted share, a PACS's DICOM import folder): each object
/// (FHIR JSON, or a DICOM SR as a PS3.10 file) is written under a hidden
/// temporary name, fsynced, renamed to its final name and the folder fsynced, so a reader of the folder never sees
/// part of a file and a delivered file survives a power cut. The name is derived from the series, so a resend (after a
/// crash between writing and recording it sent) replaces the file with the same bytes.
/// </summary>
internal sealed class FolderDestination(string folder, bool mountPoint, string heatmaps) : Destination
{
    /// <inheritdoc />
    public override Task DeliverAsync(string kind, StoredSeries series, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(series);
        switch (kind)
        {
            case OutboxObjects.FhirBundle:
                var bundle = FhirSeriesReport.Build(series.Row);
                Write($"edgemed-report-{bundle.Id}.json", Encoding.UTF8.GetBytes(FhirSeriesReport.ToJson(bundle)));
                break;
            default:
                foreach (var (file, uid) in DicomObjects(kind, series, heatmaps))
                {
                    Write($"edgemed-{(kind == OutboxObjects.DicomSr ? "sr" : "sc")}-{uid}.dcm", file);
                }

                break;
        }

        return Task.CompletedTask;
    }

    private void Write(string name, byte[] content)
    {
        // Never created: a missing folder is a share not mounted (or a typo), and a file written there would be lost.
        if (!Directory.Exists(folder))
        {
            throw new DeliveryException("the folder does not exist (not mounted?)");
        }

        // An unmounted mount point is an empty folder on the parent's file system: writing there would be lost under
        // the share when it is mounted again.
        if (mountPoint && ShareEntry.DeviceOf(folder) is { } device && device == ShareEntry.DeviceOf(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(folder)) ?? "/"))
        {
            throw new DeliveryException("nothing is mounted on the folder (MountPoint is set)");
        }

        var target = Path.Combine(folder, name);
        var partial = Path.Combine(folder, "." + name + ".partial");
        try
        {
            using (var stream = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }

            File.Move(partial, target, overwrite: true);
        }
        catch
        {
            TryDelete(partial);
            throw;
        }

        try
        {
            ShareEntry.SyncDirectory(folder);
        }
        catch (IOException)
        {
            // The file is in place under its name; sending it again would make a receiver that consumes files import
            // it twice. Some network file systems refuse fsync on a folder.
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the delivery's own error is the one reported
        }
    }
}
