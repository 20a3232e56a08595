using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Outbox;
using EdgeMed.EdgeAgent.Pipeline;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>The outbox's rows on a real SQLite file: recorded with the series, superseded by a later part, paused per destination.</summary>
public sealed class OutboxLedgerTests : IDisposable
{
    private static readonly string[] Classes = ["a", "b"];
    private static readonly OutboxRoute[] Routes = [new("records", OutboxObjects.FhirBundle), new("archive", OutboxObjects.FhirBundle)];
    private readonly AgentWorkspace _w = new();
    private readonly AgentDatabase _database;

    public OutboxLedgerTests() => _database = AgentDatabase.Open(_w.Database);

    public void Dispose()
    {
        _database.Dispose();
        _w.Dispose();
    }

    private void Store(string sop, IReadOnlyList<OutboxRoute> routes, string series = "1.2.3")
    {
        var file = _database.Files.Register("/share/" + sop, 1, 1);
        var slice = new SliceResult(file.Id, sop, 0, -1, null, new Dictionary<string, double> { ["a"] = 0.9, ["b"] = 0.1 }, "a", 0.9, 0.3, "sha");
        var batch = new SeriesBatch(series, "1.2", "MR", "t1", [file.Id], [slice], new ModelIdentity("m", "1", "sha", "1"), 1, 1, 1, 1);
        _database.Results.StoreSeries(batch, all => SeriesVerdict.Summarize(series, Classes, all, 0.6, 0.8, 1), routes);
    }

    [Fact]
    public void StoredSeries_IsPendingPerRoute_AndALaterPartSupersedesTheUnsentVersion()
    {
        Store("1.2.3.1", Routes);
        Assert.Equal(2, _database.Outbox.Due(["records", "archive"], DateTimeOffset.UtcNow, 10).Count);
        _database.Outbox.MarkSent(_database.Outbox.Due(["archive"], DateTimeOffset.UtcNow, 10).Single().Id);

        Store("1.2.3.2", Routes); // a late part of the same series: version 2
        var rows = _database.Outbox.List(DateTimeOffset.UtcNow.AddHours(-1));
        Assert.Equal(
            ["archive 1 sent", "archive 2 pending", "records 1 superseded", "records 2 pending"],
            rows.Select(r => $"{r.Destination} {r.Version} {r.State}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public void AFailure_PausesEveryPendingRowOfThatDestination_OnlyTheTriedRowCountsIt_AndRetryEndsThePause()
    {
        Store("1.2.3.1", Routes);
        var now = DateTimeOffset.UtcNow;
        var tried = _database.Outbox.Due(["records"], now, 10).Single();
        _database.Outbox.MarkFailed(tried, "down", now.AddMinutes(1));
        Assert.Empty(_database.Outbox.Due(["records"], now.AddSeconds(59), 10));
        Assert.Single(_database.Outbox.Due(["archive"], now, 10)); // another destination is not held up

        Assert.Equal(2, _database.Outbox.Retry([], all: true));
        var again = Assert.Single(_database.Outbox.Due(["records"], DateTimeOffset.UtcNow, 10));
        Assert.Equal(1, again.Attempts);
        Assert.Equal("down", again.LastError);
        Assert.Equal(2, _database.Outbox.CountDue(["records", "archive"], DateTimeOffset.UtcNow));
        Assert.Equal(0, _database.Outbox.CountDue([], DateTimeOffset.UtcNow)); // a destination no longer configured does not hold --stop-when-idle

        // Paused again: a series stored meanwhile waits out the same pause instead of trying the destination at once.
        _database.Outbox.MarkFailed(again, "down", DateTimeOffset.UtcNow.AddMinutes(1));
        Store("1.2.3.2", Routes);
        Assert.Equal(0, _database.Outbox.CountDue(["records"], DateTimeOffset.UtcNow));
        Assert.Equal(1, _database.Outbox.CountDue(["archive"], DateTimeOffset.UtcNow)); // version 2 superseded archive's version 1
    }

    [Fact]
    public void RowsThatFailedLess_GoFirst_SoOneObjectTheDestinationKeepsRefusingHoldsBackNoOther()
    {
        Store("1.2.3.1", Routes[..1]);
        var refused = _database.Outbox.Due(["records"], DateTimeOffset.UtcNow, 10).Single();
        _database.Outbox.MarkFailed(refused, "HTTP 422", DateTimeOffset.UtcNow);
        Store("1.2.4.1", Routes[..1], series: "1.2.4"); // queued after it
        var due = _database.Outbox.Due(["records"], DateTimeOffset.UtcNow.AddSeconds(1), 10);
        Assert.Equal(["1.2.4 0", "1.2.3 1"], due.Select(r => $"{r.SeriesInstanceUid} {r.Attempts}"));
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 4)]
    [InlineData(5, 32)]
    [InlineData(9, 300)]
    [InlineData(400, 300)]
    public void Pauses_DoubleFromTwoSeconds_UpToTheLimit(int failures, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), OutboxSender.Pause(failures, TimeSpan.FromMinutes(5)));
}
