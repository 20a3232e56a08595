using System.Globalization;
using EdgeMed.EdgeAgent.Reports;
using Hl7.Fhir.Model;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 15, item 3: each stored series' result objects go through the outbox to the configured destinations (here a
/// folder destination with FHIR bundles): recorded with the result, delivered once, retried while the destination is
/// down, kept across a SIGKILL, and the same file on a resend.
/// </summary>
public sealed class OutboxTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();

    public OutboxTests() => TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));

    public void Dispose() => _w.Dispose();

    private string Inbox => Path.Combine(_w.Root, "records-inbox");

    private static Dictionary<string, string> Routed(string folder) => new()
    {
        ["EDGEMED__DESTINATIONS__0__NAME"] = "records",
        ["EDGEMED__DESTINATIONS__0__FOLDER"] = folder,
        ["EDGEMED__SENDRETRYLIMIT"] = "00:00:02",
        // Long enough that a loaded machine never splits a series into two stored parts (two versions of a report).
        ["EDGEMED__SERIESQUIETPERIOD"] = "00:00:05",
    };

    private string[] Delivered() => Directory.Exists(Inbox) ? Directory.GetFiles(Inbox) : [];

    [Fact]
    public void EachSeries_ReachesTheFolderOnce_AsAFhirBundleOfItsStoredResult_AndAResendIsTheSameFile()
    {
        Directory.CreateDirectory(Inbox);
        _w.Drop(AgentWorkspace.GeSlices(6), "ge");
        _w.Drop(AgentWorkspace.PhilipsSlices(5), "philips");
        using (var agent = _w.Start(Routed(Inbox), "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(Patience), agent.Log);
            Assert.Equal(0, agent.ExitCode);
            Assert.Equal(2, agent.LinesWith("delivered to records"));
        }

        var files = Delivered();
        Assert.Equal(2, files.Length); // no partial file left beside them either
        var series = _w.Query("SELECT * FROM series");
        Assert.Equal(2, series.Count);
        foreach (var row in series)
        {
            var bundle = files.Select(f => FhirSeriesReport.FromJson(File.ReadAllText(f))).Single(b => b.Id == FhirSeriesReport.Build(row).Id);
            var report = bundle.Entry.Select(e => e.Resource).OfType<DiagnosticReport>().Single();
            Assert.StartsWith((string)row["predicted_class"]!, report.Conclusion ?? string.Empty, StringComparison.Ordinal);
            Assert.Equal("urn:oid:" + row["study_instance_uid"], report.ImagingStudy.Single().Identifier?.Value);
        }

        Assert.Equal(2, _w.Count("SELECT count(*) FROM outbox WHERE state = 'sent' AND attempts = 0"));
        Assert.Equal(2, _w.Count("SELECT count(*) FROM outbox")); // one version per series (the quiet period keeps each in one part)

        // Sent again by hand (the record system lost it): the same file, byte for byte, not a second one.
        var before = files.ToDictionary(f => f, File.ReadAllBytes);
        var id = _w.Count("SELECT min(id) FROM outbox");
        using (var retry = Cli("outbox", "retry", id.ToString(CultureInfo.InvariantCulture)))
        {
            Assert.Equal(0, ExitCode(retry));
        }

        Assert.Equal(1, _w.Count("SELECT count(*) FROM outbox WHERE state = 'pending'"));
        using (var again = _w.Start(Routed(Inbox), "--stop-when-idle"))
        {
            Assert.True(again.WaitForExit(Patience), again.Log);
            Assert.Equal(1, again.LinesWith("delivered to records"));
        }

        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), Delivered().Order(StringComparer.Ordinal));
        Assert.All(before, f => Assert.Equal(f.Value, File.ReadAllBytes(f.Key)));
        using var list = Cli("outbox", "list");
        Assert.Equal(0, ExitCode(list));
        Assert.Contains("0 pending, 2 sent in 24 h", list.Log, StringComparison.Ordinal);
    }

    [Fact]
    public void DestinationDown_ResultsWait_AndAreDeliveredOnceWhenItReturns_TheOutageLoggedOnce()
    {
        _w.Drop(AgentWorkspace.GeSlices(6), "ge");
        using var agent = _w.Start(Routed(Inbox)); // the folder does not exist yet: an import share not mounted
        AgentWorkspace.WaitFor(() => _w.Count("SELECT coalesce(max(attempts), 0) FROM outbox") >= 2 && agent.LinesWith("unreachable") > 0, Patience, "two failed attempts", agent);
        Assert.Equal(1, _w.Count("SELECT count(*) FROM series"));
        Assert.Equal(1, agent.LinesWith("Destination records unreachable (the folder does not exist (not mounted?))"));
        Assert.DoesNotContain(Inbox, agent.Log, StringComparison.Ordinal); // destinations by name, never by path
        using (var status = Cli("status"))
        {
            Assert.Equal(0, ExitCode(status));
            Assert.Contains("1 pending for records", status.Log.Split('\n').Single(l => l.StartsWith("outbox", StringComparison.Ordinal)), StringComparison.Ordinal);
        }

        Directory.CreateDirectory(Inbox);
        // The log line comes after the row is marked sent (the console logger writes from its own queue).
        AgentWorkspace.WaitFor(() => agent.LinesWith("reachable again") == 1, Patience, "the report to be delivered", agent);
        Assert.Equal(1, _w.Count("SELECT count(*) FROM outbox WHERE state = 'sent'"));
        Assert.Single(Delivered());
        Assert.Equal(0, agent.Terminate());
    }

    [Fact]
    public void StopWhenIdle_WithTheDestinationDown_StopsWithTheReportsKept_AndTheNextRunDeliversThem()
    {
        _w.Drop(AgentWorkspace.GeSlices(6), "ge");
        _w.Drop(AgentWorkspace.PhilipsSlices(5), "philips");
        using (var first = _w.Start(Routed(Inbox), "--stop-when-idle"))
        {
            Assert.True(first.WaitForExit(Patience), "a batch run waited for a destination that is down\n" + first.Log);
            Assert.Equal(0, first.ExitCode);
        }

        Assert.Equal(2, _w.Count("SELECT count(*) FROM outbox WHERE state = 'pending'"));
        Directory.CreateDirectory(Inbox);
        using (var retry = Cli("outbox", "retry", "--all"))
        {
            Assert.Equal(0, ExitCode(retry)); // the pause is kept in the rows; the technician ends it
        }

        using (var second = _w.Start(Routed(Inbox), "--stop-when-idle"))
        {
            Assert.True(second.WaitForExit(Patience), second.Log);
            Assert.Equal(2, second.LinesWith("delivered to records"));
        }

        Assert.Equal(2, Delivered().Length);
    }

    [Fact]
    public void MountPointDestination_WaitsWhileNothingIsMounted_ThenWritesIntoTheMount()
    {
        Directory.CreateDirectory(Inbox); // the empty mount point, on the parent's file system
        var routed = Routed(Inbox);
        routed["EDGEMED__DESTINATIONS__0__MOUNTPOINT"] = "true";
        _w.Drop(AgentWorkspace.GeSlices(6), "ge");
        using var agent = _w.Start(routed);
        AgentWorkspace.WaitFor(() => agent.LinesWith("nothing is mounted on the folder") == 1, Patience, "the unmounted folder to be refused", agent);
        Assert.Empty(Delivered());

        Mount("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", Inbox);
        try
        {
            AgentWorkspace.WaitFor(() => agent.LinesWith("reachable again") == 1, Patience, "the report to be written into the mount", agent);
            Assert.Single(Delivered());
            Assert.Equal(0, agent.Terminate());
        }
        finally
        {
            Mount("umount", "-l", Inbox);
        }

        Assert.Empty(Delivered()); // it went into the mount, not under it
    }

    private static void Mount(string tool, params string[] args)
    {
        var (code, error) = AgentWorkspace.RunTool(tool, args);
        Assert.True(code == 0, $"{tool} {string.Join(' ', args)}: {error} (the test needs root allowed to mount a tmpfs)");
    }

    [Fact]
    public void KilledWithAFullOutbox_TheRestartDeliversEverySeriesOnce()
    {
        _w.Drop(AgentWorkspace.GeSlices(6), "ge");
        _w.Drop(AgentWorkspace.PhilipsSlices(5), "philips");
        using (var first = _w.Start(Routed(Inbox)))
        {
            // One row is tried per round while the destination is down; both wait.
            AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM outbox WHERE state = 'pending'") == 2 && _w.Count("SELECT max(attempts) FROM outbox") >= 2,
                Patience, "both reports to wait for the destination", first);
            first.Kill();
        }

        Directory.CreateDirectory(Inbox);
        using var second = _w.Start(Routed(Inbox));
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM outbox WHERE state = 'sent'") == 2, Patience, "both reports delivered after the restart", second);
        Assert.Equal(0, second.Terminate());
        Assert.Equal(2, Delivered().Length);
        Assert.Equal(2, _w.Count("SELECT count(*) FROM outbox"));
        Assert.Equal(2, _w.Count("SELECT count(*) FROM series"));
    }

    private AgentProcess Cli(params string[] args) => AgentProcess.Start(_w.Root, [.. args, "--db", _w.Database], Routed(Inbox));

    private static int ExitCode(AgentProcess process)
    {
        Assert.True(process.WaitForExit(Patience), process.Log);
        return process.ExitCode;
    }
}
