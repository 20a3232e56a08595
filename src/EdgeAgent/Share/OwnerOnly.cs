namespace EdgeMed.EdgeAgent.Share;

/// <summary>Folders for patient data (the ledger, quarantine): owner-only, whatever the umask.</summary>
internal static class OwnerOnly
{
    private const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates <paramref name="path"/> and each missing parent with mode 0700 (Directory.CreateDirectory with a mode gives it to the last folder only); existing folders are left as they are.</summary>
    public static void CreateDirectory(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            return;
        }

        if (Path.GetDirectoryName(full) is { } parent)
        {
            CreateDirectory(parent);
        }

        Directory.CreateDirectory(full, FolderMode);
    }
}
