namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, items 3 and 6: a file the agent's account may not read was treated as vanished and offered again at
/// every scan (a log line each time); a folder it may not list was skipped without a word. Now an unreadable file is
/// reported once, read again after a pause until its permissions allow it (never quarantined), and a folder that
/// cannot be listed (permission denied or an I/O error) is skipped and reported once while the rest of the share is
/// scanned. The tests run as root, so the agent is started through <c>setpriv</c> without the capabilities that
/// override file permissions; the files belong to another account.
/// </summary>
public sealed class PermissionTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private static readonly string[] WithoutPermissionOverride =
        ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search", "--"];

    private readonly AgentWorkspace _w = new() { Launcher = WithoutPermissionOverride };

    public void Dispose()
    {
        // Give the files back so the workspace can be removed.
        foreach (var entry in Directory.EnumerateFileSystemEntries(_w.Share, "*", SearchOption.AllDirectories))
        {
            File.SetUnixFileMode(entry, Directory.Exists(entry) ? (UnixFileMode)0x1ED : (UnixFileMode)0x1A4);
        }

        _w.Dispose();
    }

    [Fact]
    public void UnreadableFile_IsReportedOnce_ReadAgainSlowly_AndTakenOnceItsPermissionsAllow()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        _w.Drop(AgentWorkspace.GeSlices(6), "ge");
        _w.Drop(AgentWorkspace.PhilipsSlices(1), "philips");
        var locked = Directory.GetFiles(Path.Combine(_w.Share, "philips")).Single();
        Chown(locked, 65534);
        File.SetUnixFileMode(locked, UnixFileMode.None);

        // Window 10 s → read again every 1 s; scans every 0.3 s.
        using var agent = _w.Start(new Dictionary<string, string> { ["EDGEMED__INCOMPLETEFILEWINDOW"] = "00:00:10" });
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE state = 'done'") == 6, Patience, "the readable series to be stored", agent);
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE reason = 'permission-denied'") == 1, Patience, "the unreadable file to be recorded", agent);

        // Four seconds: about four reads at the 1 s pause, not the thirteen scans.
        var updates = new HashSet<string>(StringComparer.Ordinal);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(4))
        {
            updates.Add((string)_w.Query("SELECT updated_at FROM files WHERE reason = 'permission-denied'").Single()["updated_at"]!);
            Thread.Sleep(50);
        }

        Assert.InRange(updates.Count, 1, 6);
        Assert.Equal(0, _w.Count("SELECT count(*) FROM files WHERE state = 'quarantined'"));
        Assert.Equal(1, agent.LinesWith("cannot be read by the agent's account"));
        Assert.DoesNotContain("vanished", agent.Log, StringComparison.Ordinal);
        using (var status = AgentProcess.Start(_w.Root, ["status", "--db", _w.Database], new Dictionary<string, string>()))
        {
            Assert.True(status.WaitForExit(TimeSpan.FromSeconds(60)), status.Log);
            Assert.Contains("1 permission-denied", status.Log.Split('\n').Single(l => l.StartsWith("waiting", StringComparison.Ordinal)), StringComparison.Ordinal);
        }

        // The clinic's IT fixes the permission (a chmod changes neither size nor modification time).
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE state = 'done'") == 7, Patience, "the file to be taken once readable", agent);
        Assert.Equal(2, _w.Count("SELECT count(*) FROM series"));
        Assert.True(File.Exists(locked), "nothing moved out of the share");
        Assert.Equal(0, agent.Terminate());
    }

    [Fact]
    public void UnlistableFolder_IsSkippedAndReportedOnce_TheRestOfTheShareIsStored_AndIntakeEnds()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        _w.Drop(AgentWorkspace.GeSlices(6), "ge");
        _w.Drop(AgentWorkspace.PhilipsSlices(2), "locked-study");
        var folder = Path.Combine(_w.Share, "locked-study");
        Chown(folder, 65534);
        File.SetUnixFileMode(folder, UnixFileMode.None);

        // And an unreadable file: it waits for a person, so it does not keep --stop-when-idle from returning.
        var file = Path.Combine(_w.Share, "unreadable.dcm");
        File.Copy(AgentWorkspace.PhilipsSlices(3)[2], file);
        Chown(file, 65534);
        File.SetUnixFileMode(file, UnixFileMode.None);

        using (var agent = _w.Start(extraArgs: "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(Patience), "intake did not finish with an unlistable folder on the share\n" + agent.Log);
            Assert.Equal(0, agent.ExitCode);
            Assert.Equal(6, _w.Count("SELECT count(*) FROM files WHERE state = 'done'"));
            Assert.Equal(7, _w.Count("SELECT count(*) FROM files"));
            Assert.Equal(1, _w.Count("SELECT count(*) FROM files WHERE state = 'queued' AND reason = 'permission-denied'"));
            Assert.Equal(1, agent.LinesWith("1 folders on the share could not be listed (Permission denied ×1)"));
            Assert.DoesNotContain("locked-study", agent.Log, StringComparison.Ordinal);
        }

        // Listable again: its files are taken at the next start.
        File.SetUnixFileMode(folder, (UnixFileMode)0x1ED);
        using var again = _w.Start(extraArgs: "--stop-when-idle");
        Assert.True(again.WaitForExit(Patience), "intake did not finish\n" + again.Log);
        Assert.Equal(8, _w.Count("SELECT count(*) FROM files WHERE state = 'done'"));
        Assert.DoesNotContain("could not be listed", again.Log, StringComparison.Ordinal);
    }

    private static void Chown(string path, int uid)
    {
        using var chown = System.Diagnostics.Process.Start("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path]);
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }
}
