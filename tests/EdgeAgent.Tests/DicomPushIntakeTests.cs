using EdgeMed.Tests;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 15, item 5: scanners that push DICOM (C-STORE) instead of writing to a share. The supported route is
/// <c>deploy/dicom-intake.sh</c>: DCMTK's storescp receives into a hidden folder of the share and renames each
/// complete instance into it. Real storescp and storescu on loopback, the real agent.
/// </summary>
public sealed class DicomPushIntakeTests : IDisposable
{
    private static readonly string Script = Path.Combine(SharedData.Repository, "deploy", "dicom-intake.sh");
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public async Task PushedInstances_AppearInTheShareOnlyComplete_AndEverySeriesIsClassified()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var samples = Path.Combine(SharedData.Repository, "samples");
        string[] sent = [Path.Combine(samples, "alzheimer-nondemented"), Path.Combine(samples, "ge-axial-t1")];
        var count = sent.Sum(f => Directory.GetFiles(f).Length);
        var port = AgentWorkspace.FreeLoopbackPort();

        using var intake = Start("sh", [Script, _w.Share, port.ToString(CultureInfo.InvariantCulture), "EDGEMED"]);
        AgentWorkspace.WaitUntilListening(port, () => !intake.HasExited);

        // Nothing is written in the share itself (a write in place raises Changed; a rename into it does not), and
        // every file's size when it first shows up there, polled while the scanner sends, is its final size.
        var writes = 0;
        using var events = new FileSystemWatcher(_w.Share) { IncludeSubdirectories = false, NotifyFilter = NotifyFilters.Size | NotifyFilters.LastWrite };
        events.Changed += (_, _) => Interlocked.Increment(ref writes);
        events.EnableRaisingEvents = true;
        var firstSeen = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        using var stop = new CancellationTokenSource();
        var watcher = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var file in new DirectoryInfo(_w.Share).EnumerateFiles())
                {
                    firstSeen.TryAdd(file.Name, file.Length);
                }

                Thread.Sleep(2);
            }
        });

        // -xy: the JPEG baseline samples go as they are (storescu cannot decompress them), the GE slices uncompressed.
        using (var send = Start("storescu", ["-aec", "EDGEMED", "-xy", "+sd", "+r", "127.0.0.1", port.ToString(CultureInfo.InvariantCulture), .. sent]))
        {
            Assert.True(send.WaitForExit(60_000), "storescu did not finish");
            Assert.True(send.ExitCode == 0, send.StandardError.ReadToEnd());
        }

        AgentWorkspace.WaitFor(() => Directory.GetFiles(_w.Share).Length == count, TimeSpan.FromSeconds(30), $"{count} instances in the share");
        stop.Cancel();
        await watcher;
        foreach (var file in new DirectoryInfo(_w.Share).EnumerateFiles())
        {
            Assert.True(firstSeen[file.Name] == file.Length, $"{file.Name} was visible at {firstSeen[file.Name]} of {file.Length} bytes");
            Assert.StartsWith("MR.", file.Name, StringComparison.Ordinal);
        }

        Assert.Empty(Directory.GetFiles(Path.Combine(_w.Share, ".incoming")));
        Assert.Equal(0, Volatile.Read(ref writes));
        intake.Kill();

        using var agent = _w.Start(extraArgs: "--stop-when-idle");
        Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(90)), "intake did not finish\n" + agent.Log);
        Assert.Equal(count, _w.Count("SELECT count(*) FROM files WHERE state = 'done'"));
        Assert.Equal(2, _w.Count("SELECT count(*) FROM series"));
    }

    [Theory]
    [InlineData("relative/share", "must be an absolute path")]
    [InlineData("/nonexistent/share", "is not a folder")]
    [InlineData("/tmp/it's", "must not contain quotes")]
    public void BadShare_IsRefusedWithAClearError(string share, string expected)
    {
        using var intake = Start("sh", [Script, share]);
        Assert.True(intake.WaitForExit(10_000));
        Assert.Equal(2, intake.ExitCode);
        Assert.Contains(expected, intake.StandardError.ReadToEnd(), StringComparison.Ordinal);
    }

    private static Process Start(string file, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info)!;
    }



}
