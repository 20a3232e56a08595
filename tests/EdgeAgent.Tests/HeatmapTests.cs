using System.Globalization;
using EdgeMed.DicomIngest.Images;
using Xunit.Abstractions;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 15, item 1: with <c>EdgeMed:HeatmapSlices</c> set, the agent writes a heatmap PNG for each stored series' most
/// confident slices (shipped int8 IConvNeXt-Tiny, the labeled sample series) and records them in the database.
/// </summary>
public sealed class HeatmapTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void EachSeries_GetsPngOverlaysOfItsMostConfidentSlices_RecordedWithItsClass_OwnerOnly()
    {
        _w.UseShippedModel();
        var samples = AgentWorkspace.LabeledSamples();
        foreach (var series in samples)
        {
            _w.Drop(DicomReportTests.Identified(_w, Directory.GetFiles(series, "*.dcm"), Path.GetFileName(series)), Path.GetFileName(series));
        }

        var heatmaps = Path.Combine(_w.Root, "heatmaps");
        var import = Path.Combine(_w.Root, "pacs-import"); // and as DICOM Secondary Captures, in a PACS import folder
        Directory.CreateDirectory(import);
        var received = Path.Combine(_w.Root, "pacs"); // and to a PACS (DCMTK's storescp on loopback), several per association
        Directory.CreateDirectory(received);
        var port = AgentWorkspace.FreeLoopbackPort();
        var settings = new Dictionary<string, string>
        {
            ["EDGEMED__HEATMAPSLICES"] = "2", ["EDGEMED__HEATMAPS"] = heatmaps, ["EDGEMED__SERIESQUIETPERIOD"] = "00:00:05",
            ["EDGEMED__DESTINATIONS__0__NAME"] = "pacs-import", ["EDGEMED__DESTINATIONS__0__FOLDER"] = import, ["EDGEMED__DESTINATIONS__0__OBJECTS__0"] = "dicom-sc",
            ["EDGEMED__DESTINATIONS__1__NAME"] = "pacs", ["EDGEMED__DESTINATIONS__1__KIND"] = "dicom", ["EDGEMED__DESTINATIONS__1__HOST"] = "127.0.0.1",
            ["EDGEMED__DESTINATIONS__1__PORT"] = port.ToString(CultureInfo.InvariantCulture), ["EDGEMED__DESTINATIONS__1__AETITLE"] = "TESTPACS",
            ["EDGEMED__DESTINATIONS__1__OBJECTS__0"] = "dicom-sc",
        };
        using var scp = DicomReportTests.StoreScp(port, received);
        using (var agent = _w.Start(settings, "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(Patience), agent.Log);
            Assert.Equal(0, agent.ExitCode);
            Assert.Equal(samples.Count, agent.LinesWith("2 heatmap(s) of class"));
            Assert.Equal(samples.Count, agent.LinesWith("dicom-sc (version 1) delivered to pacs-import"));
            Assert.Equal(samples.Count, agent.LinesWith("dicom-sc (version 1) delivered to pacs") - agent.LinesWith("delivered to pacs-import"));
            foreach (var line in agent.Log.Split('\n').Where(l => l.Contains("heatmap(s)", StringComparison.Ordinal)))
            {
                output.WriteLine(line.Trim());
            }
        }

        var rows = _w.Query("SELECT h.series_instance_uid, h.sop_instance_uid, h.class, h.probability, h.path, s.predicted_class FROM heatmaps h JOIN series s USING(series_instance_uid)");
        Assert.Equal(2 * samples.Count, rows.Count);
        foreach (var group in rows.GroupBy(r => (string)r["series_instance_uid"]!))
        {
            Assert.Equal(2, group.Count());
            // The class of the map is the series class, and the slices are its most confident ones.
            Assert.All(group, r => Assert.Equal(r["predicted_class"], r["class"]));
            var best = _w.Query($"SELECT max(json_extract(probabilities, '$.{group.First()["class"]}')) AS p FROM slices WHERE series_instance_uid = '{group.Key}'").Single()["p"];
            Assert.Contains(group, r => Math.Abs(Convert.ToDouble(r["probability"], CultureInfo.InvariantCulture) - Convert.ToDouble(best, CultureInfo.InvariantCulture)) < 1e-9);
        }

        foreach (var row in rows)
        {
            var file = Path.Combine(heatmaps, (string)row["path"]!);
            var png = PngCodec.Read(File.ReadAllBytes(file));
            Assert.Equal((128, 128, 3), (png.Width, png.Height, png.Channels));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            Assert.True(png.Samples.Where((_, i) => i % 3 == 0).Zip(png.Samples.Where((_, i) => i % 3 == 2)).Any(p => p.First > p.Second + 20), "no warm overlay anywhere");
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(heatmaps));
        Assert.Empty(Directory.GetFiles(heatmaps, ".*", SearchOption.AllDirectories)); // no partial file left

        // The same heatmaps as a Secondary Capture series per series: RGB with a burned-in band, the source's patient.
        scp.Kill();
        scp.WaitForExit();
        Assert.Equal(2 * samples.Count, Directory.GetFiles(received).Length);
        var captures = Directory.GetFiles(import);
        Assert.Equal(2 * samples.Count, captures.Length);
        foreach (var capture in captures)
        {
            var dump = Dump(capture, "0008,0016", "0028,0301", "0028,0010", "0028,0011", "0028,0004", "0010,0010", "0008,1155");
            Assert.Equal(["1.2.840.10008.5.1.4.1.1.7", "YES", "424", "384", "RGB", DicomReportTests.PatientName], dump.Take(6));
            Assert.Single(dump.Skip(6)); // the source slice, as Source Image
            var png = Path.Combine(_w.Root, Path.GetFileName(capture) + ".png");
            Assert.Equal(0, AgentWorkspace.RunForOutput("dcm2pnm", "--write-png", "--nointerlace", capture, png).Code); // DCMTK renders the pixels
            var image = PngCodec.Read(File.ReadAllBytes(png));
            Assert.Equal((384, 424), (image.Width, image.Height));
            // The burned-in band: white text on black under the image.
            Assert.Contains(image.Samples.Skip(384 * 3 * 386).Take(384 * 3 * 36), v => v == 255);
        }
    }

    private static List<string> Dump(string file, params string[] tags)
    {
        var values = new List<string>();
        foreach (var tag in tags)
        {
            var (code, text) = AgentWorkspace.RunForOutput("dcmdump", "-Un", "+P", tag, file);
            Assert.Equal(0, code);
            values.AddRange(text.Split('\n').Where(l => l.StartsWith('(') || l.TrimStart().StartsWith('(')).Select(l => l.Contains('[', StringComparison.Ordinal)
                ? l[(l.IndexOf('[', StringComparison.Ordinal) + 1)..l.IndexOf(']', StringComparison.Ordinal)].TrimEnd('\0', ' ')
                : l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[2]));
        }

        return values;
    }
}
