using System.Globalization;
using EdgeMed.DicomIngest;
using EdgeMed.EdgeAgent.Pipeline;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 12, item 3: a scanner write that paused half-way for longer than the settle time got the file quarantined
/// and moved out of the share for good. Now a file that ends early is read again when it changes (or after a pause),
/// and quarantined only when it stays so for EdgeMed:IncompleteFileWindow.
/// </summary>
public sealed class IncompleteWriteTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void WriteThatPausesHalfWay_IsReadWhenItCompletes_AndNothingIsQuarantined()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var slices = AgentWorkspace.GeSlices(6);
        _w.Drop(slices.Skip(1));
        var bytes = File.ReadAllBytes(slices[0]);
        var target = Path.Combine(_w.Share, Path.GetFileName(slices[0]));
        File.WriteAllBytes(target, bytes[..(bytes.Length / 2)]); // written in place, then the scanner pauses
        using var agent = _w.Start();

        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE reason = 'incomplete'") == 1, Patience, "the half-written file to be found incomplete", agent);
        using (var rest = new FileStream(target, FileMode.Append))
        {
            rest.Write(bytes, bytes.Length / 2, bytes.Length - (bytes.Length / 2));
        }

        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM files WHERE state = 'done'") == 6, Patience, "all six slices done", agent);
        Assert.Equal(0, _w.Count("SELECT count(*) FROM files WHERE state = 'quarantined'"));
        Assert.Equal(1, _w.Count("SELECT count(*) FROM files WHERE state = 'ignored' AND reason = 'superseded'")); // the half version
        Assert.Equal(0, _w.Count("SELECT count(*) FROM files WHERE state IN ('queued', 'read')"));
        Assert.True(File.Exists(target));
        Assert.False(Directory.Exists(_w.Quarantine) && Directory.EnumerateFiles(_w.Quarantine, "*", SearchOption.AllDirectories).Any());
        Assert.Equal(0, agent.Terminate());
    }

    [Fact]
    public void FileThatStaysTruncated_IsQuarantinedOnlyAfterTheWindow()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var bytes = File.ReadAllBytes(AgentWorkspace.GeSlices(1)[0]);
        File.WriteAllBytes(Path.Combine(_w.Share, "cut.dcm"), bytes[..(bytes.Length / 2)]);
        using var agent = _w.Start(new Dictionary<string, string> { ["EDGEMED__INCOMPLETEFILEWINDOW"] = "00:00:03" }, "--stop-when-idle");

        Assert.True(agent.WaitForExit(Patience), "intake did not finish\n" + agent.Log);
        Assert.Equal(0, agent.ExitCode);
        var row = _w.Query("SELECT * FROM files").Single();
        Assert.Equal("quarantined", row["state"]);
        Assert.True(InstanceReader.MayBeIncomplete(Enum.GetValues<IngestFailure>().Single(f => ReasonCodes.Of(f) == (string)row["reason"]!)), (string)row["reason"]!);
        var waited = DateTimeOffset.Parse((string)row["updated_at"]!, CultureInfo.InvariantCulture) - DateTimeOffset.Parse((string)row["first_seen"]!, CultureInfo.InvariantCulture);
        Assert.True(waited >= TimeSpan.FromSeconds(3), $"quarantined after {waited.TotalSeconds:F1} s, inside the 3 s window");
        Assert.Contains("looks incomplete", agent.Log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(IngestFailure.Truncated, true)]
    [InlineData(IngestFailure.InconsistentLength, true)]
    [InlineData(IngestFailure.MissingPixelData, true)]
    [InlineData(IngestFailure.DecodeFailed, true)]
    [InlineData(IngestFailure.NotDicom, false)]
    [InlineData(IngestFailure.UnsupportedTransferSyntax, false)]
    [InlineData(IngestFailure.NonImageSopClass, false)]
    [InlineData(IngestFailure.DecoderCrashed, false)]
    public void MayBeIncomplete_OnlyForRefusalsAPartialWriteAlsoGets(IngestFailure reason, bool expected)
    {
        Assert.Equal(expected, InstanceReader.MayBeIncomplete(reason));
    }
}
