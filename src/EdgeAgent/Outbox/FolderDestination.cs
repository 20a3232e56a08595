using EdgeMed.EdgeAgent.Share;

namespace EdgeMed.EdgeAgent.Outbox;

/// <summary>
/// A destination folder (a record system's import folder, a mounted share): each object is written under a hidden
/// temporary name, fsynced, renamed to its final name and the folder fsynced, so a reader of the folder never sees
/// part of a file and a delivered file survives a power cut. The name is derived from the series, so a resend (after a
/// crash between writing and recording it sent) replaces the file with the same bytes.
/// </summary>
internal sealed class FolderDestination(string folder)
{
    /// <summary>Writes one object; throws when the folder is missing or refuses it.</summary>
    public void Deliver(ResultObject item)
    {
        // Not created when missing: on a mount point whose share is not mounted, that would fill the local disk.
        if (!Directory.Exists(folder))
        {
            throw new DeliveryException("the folder does not exist (not mounted?)");
        }

        var target = Path.Combine(folder, item.FileName);
        var partial = Path.Combine(folder, "." + item.FileName + ".partial");
        try
        {
            using (var stream = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                stream.Write(item.Content.Span);
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

/// <summary>A delivery failure whose message is our own (no path, no host): logged as it is.</summary>
internal sealed class DeliveryException(string message) : IOException(message);

/// <summary>One result object as delivered: its file name at a folder destination and its bytes.</summary>
/// <param name="FileName">Name derived from the series (and object kind), the same on every resend.</param>
/// <param name="Content">The bytes.</param>
internal sealed record ResultObject(string FileName, ReadOnlyMemory<byte> Content);
