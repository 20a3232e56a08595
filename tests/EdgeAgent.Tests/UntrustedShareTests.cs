using System.Diagnostics;
using System.Net.Sockets;
using EdgeMed.DicomIngest.Tests;
using EdgeMed.EdgeAgent.Share;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, item 6: the share is untrusted. A FIFO dropped into it (<c>mkfifo share/x.dcm</c>) hung intake, and the
/// scanner followed symbolic links out of the share and round loops. Now only regular files are opened; everything
/// else is recorded once in the ledger as ignored, with its kind as the reason, and linked folders are not entered.
/// </summary>
public sealed class UntrustedShareTests : IDisposable
{
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void KindOf_TellsRegularFilesFromFifosSocketsDevicesLinksAndFolders()
    {
        var root = Path.Combine(_w.Root, "kinds");
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, "file"), "x");
        File.CreateSymbolicLink(Path.Combine(root, "link"), Path.Combine(root, "file"));
        File.CreateSymbolicLink(Path.Combine(root, "dangling"), Path.Combine(root, "nowhere"));
        MakeFifo(Path.Combine(root, "fifo"));
        using var socket = BindSocket(Path.Combine(root, "socket"));

        Assert.Equal(ShareEntryKind.Regular, ShareEntry.KindOf(Path.Combine(root, "file")));
        Assert.Equal(ShareEntryKind.Directory, ShareEntry.KindOf(root));
        Assert.Equal(ShareEntryKind.SymbolicLink, ShareEntry.KindOf(Path.Combine(root, "link")));
        Assert.Equal(ShareEntryKind.SymbolicLink, ShareEntry.KindOf(Path.Combine(root, "dangling")));
        Assert.Equal(ShareEntryKind.Fifo, ShareEntry.KindOf(Path.Combine(root, "fifo")));
        Assert.Equal(ShareEntryKind.Socket, ShareEntry.KindOf(Path.Combine(root, "socket")));
        Assert.Equal(ShareEntryKind.Device, ShareEntry.KindOf("/dev/null"));
        Assert.Equal(ShareEntryKind.Missing, ShareEntry.KindOf(Path.Combine(root, "nowhere")));
    }

    [Fact]
    public void FifoSocketLinksAndLoops_AreRecordedOnceAndNeverOpened_AndTheSeriesBesideThemIsStored()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        _w.Drop(AgentWorkspace.GeSlices(6), "study");
        MakeFifo(Path.Combine(_w.Share, "x.dcm"));
        using var socket = BindSocket(Path.Combine(_w.Share, "s.dcm"));

        // Outside the share: a folder of DICOM and one file, reachable only through links.
        var outside = Path.Combine(_w.Root, "outside");
        Directory.CreateDirectory(outside);
        foreach (var file in AgentWorkspace.PhilipsSlices(2))
        {
            File.Copy(file, Path.Combine(outside, Path.GetFileName(file)));
        }

        Directory.CreateSymbolicLink(Path.Combine(_w.Share, "elsewhere"), outside);
        Directory.CreateSymbolicLink(Path.Combine(_w.Share, "study", "up"), _w.Share); // a loop
        File.CreateSymbolicLink(Path.Combine(_w.Share, "linked.dcm"), Directory.GetFiles(outside)[0]);

        // An instance without a SOP Instance UID: its duplicates could never be told apart.
        File.WriteAllBytes(Path.Combine(_w.Share, "no-sop-uid.dcm"), DicomBuilder.MrImage(8, 8, new ushort[64], sopInstance: string.Empty).Build());

        using var agent = _w.Start(extraArgs: "--stop-when-idle");
        Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(90)), "intake did not finish with a FIFO on the share\n" + agent.Log);
        Assert.Equal(0, agent.ExitCode);

        Assert.Equal(6, _w.Count("SELECT count(*) FROM files WHERE state = 'done'"));
        Assert.Equal(1, _w.Count("SELECT count(*) FROM series"));
        Assert.Equal(1, _w.Count("SELECT count(*) FROM files WHERE state = 'ignored' AND reason = 'fifo'"));
        Assert.Equal(1, _w.Count("SELECT count(*) FROM files WHERE state = 'ignored' AND reason = 'socket'"));
        Assert.Equal(1, _w.Count("SELECT count(*) FROM files WHERE state = 'ignored' AND reason = 'symbolic-link'"));
        Assert.Equal(1, _w.Count("SELECT count(*) FROM files WHERE state = 'quarantined' AND reason = 'missing-sop-instance-uid'"));
        Assert.Equal(0, _w.Count("SELECT count(*) FROM files WHERE path LIKE '%/elsewhere/%' OR path LIKE '%/up/%'"));
        Assert.Equal(10, _w.Count("SELECT count(*) FROM files"));
        Assert.True(File.Exists(Path.Combine(_w.Share, "x.dcm")), "the FIFO is left in place");
        Assert.True(File.Exists(Directory.GetFiles(outside)[0]), "nothing outside the share is moved");
    }

    private static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
    }

    private static Socket BindSocket(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        return socket;
    }
}
