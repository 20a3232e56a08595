using System.Diagnostics;
using System.Globalization;
using EdgeMed.Tests;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 15, item 2: each stored series as a DICOM Comprehensive SR under the source's patient and study, checked by
/// DCMTK (dsr2xml reads it as an SR document; dcmdump shows the copied elements), written to a folder destination and
/// sent with C-STORE to a real storage SCP (DCMTK's storescp) on loopback: down, then up, delivered once.
/// </summary>
public sealed class DicomReportTests : IDisposable
{
    internal const string PatientName = "Zzyzx^Quentin";
    private const string PatientId = "ZX-4711-Q";
    private const string ComprehensiveSr = "1.2.840.10008.5.1.4.1.1.88.33";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();
    private readonly List<Process> _servers = [];

    public DicomReportTests() => TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));

    public void Dispose()
    {
        foreach (var server in _servers.Where(s => !s.HasExited))
        {
            server.Kill();
            server.WaitForExit();
        }

        _servers.ForEach(s => s.Dispose());
        _w.Dispose();
    }

    private static Dictionary<string, string> Settings(params (string Key, string Value)[] destination)
    {
        var settings = new Dictionary<string, string>
        {
            ["EDGEMED__SENDRETRYLIMIT"] = "00:00:02",
            ["EDGEMED__SERIESQUIETPERIOD"] = "00:00:05", // one stored part per series, so one version of its SR
        };
        foreach (var (key, value) in destination)
        {
            settings["EDGEMED__DESTINATIONS__0__" + key] = value;
        }

        return settings;
    }

    [Fact]
    public void EachSeries_BecomesAComprehensiveSr_UnderTheSourcesPatientAndStudy_ReferencingItsInstances_AndTheLogShowsNoPatient()
    {
        var inbox = Path.Combine(_w.Root, "pacs-import");
        Directory.CreateDirectory(inbox);
        var ge = Identified(_w, AgentWorkspace.GeSlices(6), "ge");
        _w.Drop(ge, "ge");
        _w.Drop(AgentWorkspace.PhilipsSlices(5), "philips");
        var settings = Settings(("NAME", "pacs-import"), ("FOLDER", inbox), ("OBJECTS__0", "dicom-sr"));
        using (var agent = _w.Start(settings, "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(Patience), agent.Log);
            Assert.Equal(0, agent.ExitCode);
            Assert.Equal(2, agent.LinesWith("dicom-sr (version 1) delivered to pacs-import"));
            Assert.DoesNotContain("Zzyzx", agent.Log, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(PatientId, agent.Log, StringComparison.Ordinal);
        }

        var files = Directory.GetFiles(inbox);
        Assert.Equal(2, files.Length);
        foreach (var file in files)
        {
            Assert.Equal(0, AgentWorkspace.RunForOutput("dsr2xml", file).Code); // DCMTK reads it as a valid SR document tree
        }

        var series = _w.Query("SELECT series_instance_uid, study_instance_uid, predicted_class FROM series");
        var geSeries = Tag(ge[0], "0020,000e") ?? throw new InvalidDataException("the GE file has no series UID");
        var geSr = files.Single(f => Tags(f, "0020,000e").Contains(geSeries)); // the evidence names the source series
        Assert.Equal(ComprehensiveSr, Tag(geSr, "0008,0016"));
        Assert.Equal(PatientName, Tag(geSr, "0010,0010"));
        Assert.Equal(PatientId, Tag(geSr, "0010,0020"));
        Assert.Equal(Tag(ge[0], "0020,000d"), Tag(geSr, "0020,000d"));
        Assert.Equal(Tag(ge[0], "0008,0020"), Tag(geSr, "0008,0020"));
        Assert.Equal("SR", Tag(geSr, "0008,0060"));
        Assert.NotEqual(geSeries, Tag(geSr, "0020,000e"));
        // Evidence: exactly the six instances classified, each once, and the most confident one once more as an image.
        var references = Tags(geSr, "0008,1155");
        Assert.Equal(7, references.Count);
        Assert.Equal(ge.Select(f => Tag(f, "0008,0018")).Order(StringComparer.Ordinal), references.Distinct().Order(StringComparer.Ordinal));
        var tree = AgentWorkspace.RunForOutput("dsrdump", "+Pc", geSr).Output;
        var predicted = (string)series.Single(s => (string)s["series_instance_uid"]! == geSeries)["predicted_class"]!;
        Assert.Contains($"<contains CODE:(121071,DCM,\"Finding\")=({predicted},99EDGEMED,", tree, StringComparison.Ordinal);
        Assert.Contains("Not for diagnosis", tree, StringComparison.Ordinal);

        // The CLI shows results, never the patient elements the SR copies.
        using (var results = AgentProcess.Start(_w.Root, ["results", "--format", "json", "--db", _w.Database], settings))
        {
            Assert.True(results.WaitForExit(Patience), results.Log);
            Assert.Equal(0, results.ExitCode);
            Assert.Contains(geSeries, results.Log, StringComparison.Ordinal);
            Assert.DoesNotContain("Zzyzx", results.Log, StringComparison.Ordinal);
        }

        // Sent again: the same object (same SOP instance UID, same bytes), not a second one.
        var before = files.ToDictionary(f => f, File.ReadAllBytes);
        Cli(settings, ["outbox", "retry", .. _w.Query("SELECT id FROM outbox").Select(r => Convert.ToString(r["id"], CultureInfo.InvariantCulture)!)]);
        using (var again = _w.Start(settings, "--stop-when-idle"))
        {
            Assert.True(again.WaitForExit(Patience), again.Log);
            Assert.Equal(2, again.LinesWith("delivered to pacs-import"));
        }

        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), Directory.GetFiles(inbox).Order(StringComparer.Ordinal));
        Assert.All(before, f => Assert.Equal(f.Value, File.ReadAllBytes(f.Key)));
    }

    [Fact]
    public void AnEnhancedMultiFrameSource_IsReferencedByTheFrameTheModelWasMostSureOf()
    {
        var inbox = Path.Combine(_w.Root, "pacs-import");
        Directory.CreateDirectory(inbox);
        _w.Drop([Path.Combine(SharedData.Philips, "201_T1W_TSE_Sno_CSno_CSAIno", "0001.dcm")], "enhanced");
        using (var agent = _w.Start(Settings(("NAME", "pacs-import"), ("FOLDER", inbox), ("OBJECTS__0", "dicom-sr")), "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(Patience), agent.Log);
            Assert.Equal(1, agent.LinesWith("dicom-sr (version 1) delivered to pacs-import"));
        }

        var best = _w.Query("SELECT best_frame FROM series").Single()["best_frame"];
        var sr = Assert.Single(Directory.GetFiles(inbox));
        Assert.Equal((Convert.ToInt64(best, CultureInfo.InvariantCulture) + 1).ToString(CultureInfo.InvariantCulture), Tag(sr, "0008,1160"));
        Assert.Equal(0, AgentWorkspace.RunForOutput("dsr2xml", sr).Code);
    }

    [Theory]
    [InlineData(0, "I: Received Store Response (Success)", null)]
    [InlineData(0, "I: Received Store Response (Warning: Coercion of Data Elements)", null)]
    [InlineData(0, "E: Store Failed, file: x:\nE: 0006:020e DIMSE Failed to send message\nI: Received Store Response (Failure: Refused: Out of Resources)", "the PACS refused the object (Store Response failure)")]
    [InlineData(1, "F: Association Rejected:\nF: Reason: Called AE Title Not Recognized", "the PACS rejected the association (check AeTitle and CallingAeTitle)")]
    [InlineData(1, "F: Association Request Failed: 0006:031c TCP Initialization Error: Connection refused", "no association (PACS unreachable?)")]
    [InlineData(0, "", "storescu exit code 0, no Store Response")]
    public void StoreScusLog_IsReadAsDeliveredOnlyWhenThePacsSaidSuccessOrWarning(int exitCode, string log, string? verdict) =>
        Assert.Equal(verdict, Outbox.DicomDestination.Verdict(exitCode, log));

    [Fact]
    public void ToAPacs_TheSrWaitsWhileItIsDown_AndArrivesOnceWhenItIsUp()
    {
        var port = AgentWorkspace.FreeLoopbackPort();
        var received = Path.Combine(_w.Root, "pacs");
        Directory.CreateDirectory(received);
        _w.Drop(Identified(_w, AgentWorkspace.GeSlices(6), "ge"), "ge");
        var settings = Settings(("NAME", "pacs"), ("KIND", "dicom"), ("HOST", "127.0.0.1"), ("PORT", port.ToString(CultureInfo.InvariantCulture)), ("AETITLE", "TESTPACS"));

        // Nothing listens: the SR stays in the outbox, the outage is logged once, the object file is not left behind.
        using (var agent = _w.Start(settings, "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(Patience), agent.Log);
            Assert.Equal(0, agent.ExitCode);
            Assert.Equal(1, agent.LinesWith("Destination pacs unreachable"));
            Assert.DoesNotContain(port.ToString(CultureInfo.InvariantCulture), agent.Log, StringComparison.Ordinal);
        }

        Assert.Equal(1, _w.Count("SELECT count(*) FROM outbox WHERE state = 'pending' AND attempts >= 1"));
        Assert.Empty(Directory.GetFiles(Path.Combine(Path.GetDirectoryName(_w.Database)!, "outbox-work", "pacs")));

        // The PACS is up: delivered, stored there once, under the UID the folder rendering has too.
        var scp = StartStoreScp(port, received);
        Cli(settings, "outbox", "retry", "--all"); // the pause is kept in the row; the technician ends it
        using (var agent = _w.Start(settings, "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(Patience), agent.Log);
            Assert.Equal(1, agent.LinesWith("dicom-sr (version 1) delivered to pacs after 1 failed attempt(s)"));
        }

        var stored = Directory.GetFiles(received);
        Assert.Single(stored);
        Assert.Equal(ComprehensiveSr, Tag(stored[0], "0008,0016"));
        Assert.Equal(PatientName, Tag(stored[0], "0010,0010"));
        Assert.Equal(1, _w.Count("SELECT count(*) FROM outbox WHERE state = 'sent'"));
        Assert.False(scp.HasExited);
    }

    private void Cli(IReadOnlyDictionary<string, string> settings, params string[] args)
    {
        using var cli = AgentProcess.Start(_w.Root, [.. args, "--db", _w.Database], settings);
        Assert.True(cli.WaitForExit(Patience), cli.Log);
        Assert.Equal(0, cli.ExitCode);
    }

    /// <summary>Copies of the files with a recognisable patient name and ID (DCMTK's dcmodify), to follow them into the SR and out of the log.</summary>
    internal static string[] Identified(AgentWorkspace w, IReadOnlyList<string> files, string name)
    {
        var folder = Path.Combine(w.Root, "sources", name);
        Directory.CreateDirectory(folder);
        var copies = files.Select(f => Path.Combine(folder, Path.GetFileName(f))).ToArray();
        foreach (var (from, to) in files.Zip(copies))
        {
            File.Copy(from, to);
            Assert.Equal(0, AgentWorkspace.RunForOutput("dcmodify", "-nb", "-m", $"(0010,0010)={PatientName}", "-m", $"(0010,0020)={PatientId}", to).Code);
        }

        return copies;
    }

    private Process StartStoreScp(int port, string folder)
    {
        var process = StoreScp(port, folder);
        _servers.Add(process);
        return process;
    }

    /// <summary>DCMTK's storescp as a PACS on a loopback port (AE title TESTPACS), storing into <paramref name="folder"/>; the caller kills it.</summary>
    internal static Process StoreScp(int port, string folder)
    {
        var info = new ProcessStartInfo("storescp") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--aetitle", "TESTPACS", "--output-directory", folder, port.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        AgentWorkspace.WaitUntilListening(port, () => !process.HasExited);
        return process;
    }

    /// <summary>The first value of a tag anywhere in the file (dcmdump), or null.</summary>
    internal static string? Tag(string file, string tag) => Tags(file, tag).FirstOrDefault();

    /// <summary>Every value of a tag anywhere in the file, sequences included (dcmdump +P).</summary>
    internal static List<string> Tags(string file, string tag)
    {
        var (code, output) = AgentWorkspace.RunForOutput("dcmdump", "-Un", "+P", tag, file);
        Assert.Equal(0, code);
        return [.. output.Split('\n').Where(l => l.Contains('[', StringComparison.Ordinal)).Select(l => l[(l.IndexOf('[', StringComparison.Ordinal) + 1)..l.IndexOf(']', StringComparison.Ordinal)].TrimEnd('\0', ' '))];
    }
}
