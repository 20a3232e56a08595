using System.Text;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Reports;
using EdgeMed.EdgeAgent.Share;

namespace EdgeMed.EdgeAgent.Outbox;

/// <summary>
/// A destination folder (a record system's import folder, a mounted share): each object is written under a hidden
/// temporary name, fsynced, renamed to its final name and the folder fsynced, so a reader of the folder never sees
/// part of a file and a delivered file survives a power cut. The name is derived from the series, so a resend (after a
/// crash between writing and recording it sent) replaces the file with the same bytes.
/// </summary>
internal sealed class FolderDestination(string folder) : Destination
{
    /// <inheritdoc />
    public override Task DeliverAsync(string kind, IReadOnlyDictionary<string, object?> series, CancellationToken cancellationToken)
    {
        if (kind != OutboxObjects.FhirBundle)
        {
            throw Unsupported(kind);
        }

        var bundle = FhirSeriesReport.Build(series);
        Write($"edgemed-report-{bundle.Id}.json", Encoding.UTF8.GetBytes(FhirSeriesReport.ToJson(bundle)));
        return Task.CompletedTask;
    }

    private void Write(string name, byte[] content)
    {
        // Not created when missing: on a mount point whose share is not mounted, that would fill the local disk.
        if (!Directory.Exists(folder))
        {
            throw new DeliveryException("the folder does not exist (not mounted?)");
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
            ShareEntry.SyncDirectory(folder);
        }
        catch
        {
            TryDelete(partial);
            throw;
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
