using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Share;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>Issue 12, item 10 (regression): the ledger and the quarantine were created with the process umask (0644/0755).</summary>
public sealed class OwnerOnlyFilesTests : IDisposable
{
    private const UnixFileMode Folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode File600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void NewDatabase_ItsFolderAndWalFiles_AreOwnerOnly()
    {
        using (var database = AgentDatabase.Open(_w.Database))
        {
            database.Status.Set(StatusKeys.LastError, "none");
            Assert.Equal(Folder, File.GetUnixFileMode(Path.GetDirectoryName(_w.Database)!));
            Assert.Equal(File600, File.GetUnixFileMode(_w.Database));
            Assert.Equal(File600, File.GetUnixFileMode(_w.Database + "-wal"));
            Assert.Equal(File600, File.GetUnixFileMode(_w.Database + "-shm"));
        }
    }

    [Fact]
    public void QuarantineFolders_AreOwnerOnly()
    {
        var refused = Path.Combine(_w.Share, "DOE^JANE", "x.dcm");
        Directory.CreateDirectory(Path.GetDirectoryName(refused)!);
        File.WriteAllText(refused, "not DICOM");
        var folder = new QuarantineFolder(_w.Quarantine, _w.Share, moveFiles: true);
        var destination = folder.Destination(refused)!;
        Assert.True(QuarantineFolder.TryMove(refused, destination));
        for (var dir = Path.GetDirectoryName(destination)!; dir.Length > _w.Quarantine.Length; dir = Path.GetDirectoryName(dir)!)
        {
            Assert.Equal(Folder, File.GetUnixFileMode(dir));
        }
    }
}
