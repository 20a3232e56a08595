using System.Globalization;
using EdgeMed.DicomIngest.Tests;
using Xunit.Abstractions;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, item 8: decoded pixels in flight were bounded by a slice count (512 slices of any size) and only inside
/// the assembler, not in the channels or during inference. Now one byte budget (EdgeMed:MaxBufferedMegabytes) covers
/// reading to the end of inference. A 2,000-slice series (256×256, 500 MB decoded) passes through with a 16 MB budget
/// in parts, and the agent's peak memory stays hundreds of MB below the same run with a budget that never binds.
/// </summary>
public sealed class MemoryBudgetTests(ITestOutputHelper output) : IDisposable
{
    private const int Slices = 2000;
    private const int Size = 256;
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void LongSeries_PassesThroughInParts_WithPeakMemoryBoundedByTheBudget()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        WriteSeries(Path.Combine(_w.Root, "series"));

        var (bounded, boundedLog) = PeakRssMb(16);
        Assert.Equal(Slices, _w.Count("SELECT count(*) FROM files WHERE state = 'done'"));
        Assert.Equal(1, _w.Count("SELECT count(*) FROM series"));
        Assert.Equal(Slices, _w.Count("SELECT count(*) FROM slices"));
        Assert.Contains("passed on before its quiet period", boundedLog, StringComparison.Ordinal);

        var (unbounded, _) = PeakRssMb(4096);
        output.WriteLine($"peak RSS: budget 16 MB {bounded:F0} MB; budget 4096 MB {unbounded:F0} MB");
        Assert.True(bounded < unbounded - 200, $"peak RSS {bounded:F0} MB with a 16 MB budget vs {unbounded:F0} MB with one that never binds");
    }

    /// <summary>A fresh share and database holding the series; the agent's peak resident memory (VmHWM) until idle.</summary>
    private (double PeakMb, string Log) PeakRssMb(int budgetMb)
    {
        foreach (var dir in new[] { _w.Share, Path.GetDirectoryName(_w.Database)! })
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        Directory.CreateDirectory(_w.Share);
        foreach (var file in Directory.GetFiles(Path.Combine(_w.Root, "series")))
        {
            File.Copy(file, Path.Combine(_w.Share, Path.GetFileName(file)));
        }

        using var agent = _w.Start(new Dictionary<string, string> { ["EDGEMED__MAXBUFFEREDMEGABYTES"] = budgetMb.ToString(CultureInfo.InvariantCulture), ["EDGEMED__SERIESQUIETPERIOD"] = "00:00:05" }, "--stop-when-idle");
        var peak = 0.0;
        var status = $"/proc/{agent.Id}/status";
        while (!agent.WaitForExit(TimeSpan.FromMilliseconds(200)))
        {
            try
            {
                var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
                if (line is not null)
                {
                    peak = Math.Max(peak, double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024);
                }
            }
            catch (IOException)
            {
                // exited between the check and the read
            }
        }

        Assert.True(agent.ExitCode == 0, agent.Log);
        return (peak, agent.Log);
    }

    private static void WriteSeries(string folder)
    {
        Directory.CreateDirectory(folder);
        var pixels = new ushort[Size * Size];
        for (var i = 0; i < Slices; i++)
        {
            for (var p = 0; p < pixels.Length; p++)
            {
                pixels[p] = (ushort)(((p % Size) + (p / Size) + i) & 0x3FF);
            }

            var bytes = DicomBuilder.MrImage(Size, Size, pixels, sopInstance: $"1.2.3.4.5.{i + 1}")
                .Text(0x0020, 0x0032, "DS", $"0\\0\\{i}")
                .Text(0x0020, 0x0013, "IS", (i + 1).ToString(CultureInfo.InvariantCulture))
                .Build();
            File.WriteAllBytes(Path.Combine(folder, $"slice{i:D4}.dcm"), bytes);
        }
    }
}
