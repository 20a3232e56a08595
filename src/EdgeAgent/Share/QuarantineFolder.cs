namespace EdgeMed.EdgeAgent.Share;

/// <summary>
/// Moves refused files out of the share into a dated quarantine folder, keeping their path below the share. When the
/// share is read-only (or <see cref="MoveFiles"/> is off, as for one-shot classification of a technician's files) the
/// file stays where it is and only the ledger marks it.
/// </summary>
public sealed class QuarantineFolder(string folder, string? share, bool moveFiles)
{
    /// <summary>The quarantine folder.</summary>
    public string Folder { get; } = Path.GetFullPath(folder);

    /// <summary>Whether files are moved (else only marked in the ledger).</summary>
    public bool MoveFiles { get; } = moveFiles;

    /// <summary>Where <paramref name="path"/> goes: <c>FOLDER/yyyy-MM-dd/relative/path</c>, made unique; null when files are not moved.</summary>
    public string? Destination(string path)
    {
        if (!MoveFiles)
        {
            return null;
        }

        var relative = share is not null && path.StartsWith(Path.GetFullPath(share).TrimEnd('/') + "/", StringComparison.Ordinal)
            ? Path.GetRelativePath(share, path)
            : Path.GetFileName(path);
        var target = Path.Combine(Folder, DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), relative);
        for (var n = 1; File.Exists(target); n++)
        {
            target = Path.Combine(Path.GetDirectoryName(target)!, $"{Path.GetFileNameWithoutExtension(relative)}.{n}{Path.GetExtension(relative)}");
        }

        return target;
    }

    /// <summary>Moves the file; false (file left in place) when the share does not allow it.</summary>
    public static bool TryMove(string path, string destination)
    {
        try
        {
            // Owner-only: refused files are patient data, and their folder names may be patients' names.
            OwnerOnly.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Move(path, destination);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A move across file systems copies first; if the share then refuses the delete, drop the copy.
            if (File.Exists(path) && File.Exists(destination))
            {
                File.Delete(destination);
            }

            return false;
        }
    }
}
