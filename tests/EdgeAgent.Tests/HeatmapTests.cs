using System.Globalization;
using EdgeMed.DicomIngest.Images;
using EdgeMed.Tests;
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
        var shipped = Path.Combine(SharedData.Repository, "models", "iconvnext-tiny-alzheimer");
        var package = Path.Combine(_w.Models, "shipped");
        Directory.CreateDirectory(package);
        foreach (var file in Directory.GetFiles(shipped, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(package, Path.GetRelativePath(shipped, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }

        var samples = Directory.GetDirectories(Path.Combine(SharedData.Repository, "samples"), "alzheimer-*");
        foreach (var series in samples)
        {
            _w.Drop(Directory.GetFiles(series, "*.dcm"), Path.GetFileName(series));
        }

        var heatmaps = Path.Combine(_w.Root, "heatmaps");
        var settings = new Dictionary<string, string> { ["EDGEMED__HEATMAPSLICES"] = "2", ["EDGEMED__HEATMAPS"] = heatmaps, ["EDGEMED__SERIESQUIETPERIOD"] = "00:00:05" };
        using (var agent = _w.Start(settings, "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(Patience), agent.Log);
            Assert.Equal(0, agent.ExitCode);
            Assert.Equal(samples.Length, agent.LinesWith("2 heatmap(s) of class"));
            foreach (var line in agent.Log.Split('\n').Where(l => l.Contains("heatmap(s)", StringComparison.Ordinal)))
            {
                output.WriteLine(line.Trim());
            }
        }

        var rows = _w.Query("SELECT h.series_instance_uid, h.sop_instance_uid, h.class, h.probability, h.path, s.predicted_class FROM heatmaps h JOIN series s USING(series_instance_uid)");
        Assert.Equal(2 * samples.Length, rows.Count);
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
    }
}
