using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 15: the SRs reach a real PACS — Debian's Orthanc, started by the test on loopback ports with its own storage —
/// through the outbox: exactly one instance per series with the source's patient and study, a resend stored once,
/// and with Orthanc down while the agent is killed and restarted, everything arrives once when it is back.
/// </summary>
public sealed class OrthancTests : IDisposable
{
    private const string ComprehensiveSr = "1.2.840.10008.5.1.4.1.1.88.33";
    private const string SecondaryCapture = "1.2.840.10008.5.1.4.1.1.7";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();
    private readonly Orthanc _pacs;

    public OrthancTests()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        _pacs = new Orthanc(Path.Combine(_w.Root, "orthanc"));
    }

    public void Dispose()
    {
        _pacs.Dispose();
        _w.Dispose();
    }

    private Dictionary<string, string> Routed() => new()
    {
        ["EDGEMED__DESTINATIONS__0__NAME"] = "pacs",
        ["EDGEMED__DESTINATIONS__0__KIND"] = "dicom",
        ["EDGEMED__DESTINATIONS__0__HOST"] = "127.0.0.1",
        ["EDGEMED__DESTINATIONS__0__PORT"] = _pacs.DicomPort.ToString(CultureInfo.InvariantCulture),
        ["EDGEMED__DESTINATIONS__0__AETITLE"] = Orthanc.AeTitle,
        ["EDGEMED__SENDRETRYLIMIT"] = "00:00:02",
        ["EDGEMED__SERIESQUIETPERIOD"] = "00:00:05", // one stored part per series, so one SR each
    };

    [Fact]
    public void TheLabeledSamples_ReachOrthanc_AsAnSrAndTwoSecondaryCapturesPerSeries_UnderTheSourcesPatientAndStudy_AndAResendIsStoredOnce()
    {
        _pacs.Start();
        _w.UseShippedModel(); // heatmaps need the IConvNeXt head
        var samples = AgentWorkspace.LabeledSamples();
        var sources = samples.Select(s => DicomReportTests.Identified(_w, Directory.GetFiles(s, "*.dcm"), Path.GetFileName(s))).ToList(); // patient name and ID unlike each other
        sources.ForEach(files => _w.Drop(files, Path.GetFileName(Path.GetDirectoryName(files[0]))!));
        var settings = Routed();
        settings["EDGEMED__HEATMAPSLICES"] = "2";
        settings["EDGEMED__DESTINATIONS__0__OBJECTS__0"] = "dicom-sr";
        settings["EDGEMED__DESTINATIONS__0__OBJECTS__1"] = "dicom-sc";
        using (var agent = _w.Start(settings, "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(Patience), agent.Log);
            Assert.Equal(0, agent.ExitCode);
            Assert.Equal(samples.Count, agent.LinesWith("dicom-sr (version 1) delivered to pacs"));
            Assert.Equal(samples.Count, agent.LinesWith("dicom-sc (version 1) delivered to pacs"));
        }

        // Exactly those instances: per series one SR and two Secondary Captures, in the source's study, for its patient.
        var instances = _pacs.Instances();
        Assert.Equal(3 * samples.Count, instances.Count);
        foreach (var files in sources)
        {
            var mine = instances.Where(i => i["StudyInstanceUID"] == DicomReportTests.Tag(files[0], "0020,000d")).ToList();
            Assert.Equal([SecondaryCapture, SecondaryCapture, ComprehensiveSr], mine.Select(i => i["SOPClassUID"]).Order(StringComparer.Ordinal));
            Assert.All(mine, i => Assert.Equal(DicomReportTests.Tag(files[0], "0010,0020"), i["PatientID"]));
            Assert.All(mine, i => Assert.Equal(DicomReportTests.Tag(files[0], "0010,0010"), i["PatientName"]));
            Assert.Equal(["OT", "OT", "SR"], mine.Select(i => i["Modality"]).Order(StringComparer.Ordinal));
            Assert.All(mine.Where(i => i["Modality"] == "OT"), i => Assert.Equal("YES", i["BurnedInAnnotation"]));
        }

        // Sent again (the technician thinks the PACS lost them): the same SOP instances, still one each.
        using (var retry = AgentProcess.Start(_w.Root, ["outbox", "retry", .. _w.Query("SELECT id FROM outbox").Select(r => Convert.ToString(r["id"], CultureInfo.InvariantCulture)!), "--db", _w.Database], settings))
        {
            Assert.True(retry.WaitForExit(Patience), retry.Log);
            Assert.Equal(0, retry.ExitCode);
        }

        using (var again = _w.Start(settings, "--stop-when-idle"))
        {
            Assert.True(again.WaitForExit(Patience), again.Log);
            Assert.Equal(2 * samples.Count, again.LinesWith("delivered to pacs"));
        }

        Assert.Equal(instances.Select(i => i["SOPInstanceUID"]).Order(StringComparer.Ordinal), _pacs.Instances().Select(i => i["SOPInstanceUID"]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void OrthancDown_AgentKilledWithAFullOutbox_AfterRestartAndOrthancBack_EverySeriesArrivesOnce()
    {
        _w.Drop(AgentWorkspace.GeSlices(6), "ge");
        _w.Drop(AgentWorkspace.PhilipsSlices(5), "philips");
        using (var first = _w.Start(Routed()))
        {
            AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM outbox WHERE state = 'pending'") == 2 && _w.Count("SELECT max(attempts) FROM outbox") >= 2,
                Patience, "both SRs to wait for the PACS", first);
            first.Kill();
        }

        using var second = _w.Start(Routed());
        AgentWorkspace.WaitFor(() => second.LinesWith("Outbox: 1 destination(s)") == 1, Patience, "the restarted agent's outbox", second);
        _pacs.Start(); // back while the agent waits out its pause
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM outbox WHERE state = 'sent'") == 2, Patience, "both SRs delivered after the restart", second);
        Assert.Equal(0, second.Terminate());
        var instances = _pacs.Instances();
        Assert.Equal(2, instances.Count);
        Assert.Equal(2, instances.Select(i => i["SeriesInstanceUID"]).Distinct().Count());
        Assert.Equal(2, _w.Count("SELECT count(*) FROM outbox"));
    }


    /// <summary>Debian's Orthanc (/usr/sbin/Orthanc) on two free loopback ports, storing under a folder of the test's own.</summary>
    private sealed class Orthanc : IDisposable
    {
        public const string AeTitle = "TESTPACS";
        private readonly string _folder;
        private readonly HttpClient _http = new();
        private Process? _process;

        public Orthanc(string folder)
        {
            _folder = folder;
            Directory.CreateDirectory(Path.Combine(folder, "storage"));
            DicomPort = AgentWorkspace.FreeLoopbackPort();
            HttpPort = AgentWorkspace.FreeLoopbackPort();
            File.WriteAllText(Path.Combine(folder, "orthanc.json"), JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["Name"] = "edgemed-test", ["StorageDirectory"] = Path.Combine(folder, "storage"), ["IndexDirectory"] = Path.Combine(folder, "storage"),
                ["DicomAet"] = AeTitle, ["DicomPort"] = DicomPort, ["DicomCheckCalledAet"] = true, ["HttpPort"] = HttpPort,
                ["RemoteAccessAllowed"] = false, ["AuthenticationEnabled"] = false, ["Plugins"] = Array.Empty<string>(),
            }));
        }

        public int DicomPort { get; }

        public int HttpPort { get; }

        public void Start()
        {
            var info = new ProcessStartInfo("/usr/sbin/Orthanc") { RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add(Path.Combine(_folder, "orthanc.json"));
            _process = Process.Start(info)!;
            _process.OutputDataReceived += (_, _) => { };
            _process.ErrorDataReceived += (_, _) => { };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
            AgentWorkspace.WaitUntilListening(DicomPort, () => !_process.HasExited);
            AgentWorkspace.WaitUntilListening(HttpPort, () => !_process.HasExited);
        }

        /// <summary>Every stored instance's main tags (Orthanc's REST API: /instances?expand, simplified tags).</summary>
        public List<Dictionary<string, string>> Instances()
        {
            var json = _http.GetStringAsync(new Uri($"http://127.0.0.1:{HttpPort}/instances?expand")).GetAwaiter().GetResult();
            using var document = JsonDocument.Parse(json);
            return [.. document.RootElement.EnumerateArray().Select(instance =>
            {
                var id = instance.GetProperty("ID").GetString()!;
                var tags = _http.GetStringAsync(new Uri($"http://127.0.0.1:{HttpPort}/instances/{id}/simplified-tags")).GetAwaiter().GetResult();
                using var parsed = JsonDocument.Parse(tags);
                return parsed.RootElement.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String)
                    .ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
            })];
        }

        public void Dispose()
        {
            if (_process is { HasExited: false })
            {
                _process.Kill();
                _process.WaitForExit();
            }

            _process?.Dispose();
            _http.Dispose();
        }
    }
}
