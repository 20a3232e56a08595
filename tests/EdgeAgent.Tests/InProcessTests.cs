using System.Text.Json;
using EdgeMed.EdgeAgent.Cli;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Lights;
using EdgeMed.EdgeAgent.Models;
using EdgeMed.EdgeAgent.Operations;
using EdgeMed.Packages;
using EdgeMed.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>The one-shot commands and the components in this process, over real files, SQLite and ONNX Runtime.</summary>
public sealed class InProcessTests : IDisposable
{
    private static readonly string[] RequiredColumns = ["path", "sop_instance_uid", "series_instance_uid", "predicted_class", "max_probability", "entropy"];
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    private Dictionary<string, string?> Overrides => new()
    {
        ["EdgeMed:Database"] = _w.Database, ["EdgeMed:Models"] = _w.Models, ["EdgeMed:Quarantine"] = _w.Quarantine, ["EdgeMed:IntraOpThreads"] = "1",
    };

    private (int Exit, string Output, string Error) Classify(string format, params string[] paths) => Classify(format, Overrides, paths);

    private static (int Exit, string Output, string Error) Classify(string format, Dictionary<string, string?> overrides, params string[] paths)
    {
        using var host = AgentHost.Build(AgentMode.Classify, null, overrides);
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = AgentCommands.ClassifyAsync(host, paths, format, output, error, CancellationToken.None).GetAwaiter().GetResult();
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public void DuplicateFilesAndResentInstances_AreNotClassifiedTwice()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var ge = AgentWorkspace.GeSlices(4);
        _w.Drop(ge, "first");
        _w.Drop(ge.Take(1), "copy"); // same bytes under another folder
        var resent = Path.Combine(_w.Share, "resent", "instance.dcm"); // same SOP instance, other bytes (last pixel changed)
        Directory.CreateDirectory(Path.GetDirectoryName(resent)!);
        var bytes = File.ReadAllBytes(ge[1]);
        bytes[^1] ^= 0x1;
        File.WriteAllBytes(resent, bytes);

        var (exit, json, _) = Classify("json", _w.Share);
        Assert.Equal(0, exit);
        using var records = JsonDocument.Parse(json);
        Assert.Equal(4, records.RootElement.GetArrayLength());
        Assert.Equal(4, _w.Count("SELECT count(*) FROM slices"));
        Assert.Equal(1, _w.Count("SELECT count(*) FROM files WHERE reason = 'same-content'"));
        Assert.Equal(1, _w.Count("SELECT count(*) FROM files WHERE reason = 'sop-instance-seen'"));

        // Sent again later, after the series was stored: still nothing new.
        var late = Path.Combine(_w.Share, "late");
        _w.Drop(ge.Skip(2), "late");
        Assert.Equal(0, Classify("csv", late).Exit);
        Assert.Equal(4, _w.Count("SELECT count(*) FROM slices"));
        Assert.Equal(1, _w.Count("SELECT count(*) FROM series"));
        Assert.Equal(1L, _w.Query("SELECT updates FROM series").Single()["updates"]);
    }

    [Fact]
    public void ClassifyCsvAndJson_HaveOneRecordPerSliceWithEveryClassColumn()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        _w.Drop(AgentWorkspace.GeSlices(3));
        var (exit, csv, _) = Classify("csv", _w.Share);
        Assert.Equal(0, exit);
        var lines = csv.TrimEnd().Split('\n');
        var header = lines[0].Split(',');
        foreach (var column in RequiredColumns.Concat(TestPackages.Classes))
        {
            Assert.Contains(column, header);
        }

        Assert.Equal(4, lines.Length);
        var p = TestPackages.Classes.Sum(c => double.Parse(lines[1].Split(',')[Array.IndexOf(header, c)], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1.0, p, 6);

        using var host = AgentHost.Build(AgentMode.Query, null, Overrides);
        var output = new StringWriter();
        Assert.Equal(0, AgentCommands.Results(host, "1h", "json", seriesLevel: false, output, TextWriter.Null));
        using var json = JsonDocument.Parse(output.ToString());
        Assert.Equal(3, json.RootElement.GetArrayLength());
        Assert.True(json.RootElement[0].TryGetProperty("NonDemented", out _));
        output = new StringWriter();
        AgentCommands.Results(host, "2999-01-01T00:00:00Z", "csv", seriesLevel: false, output, TextWriter.Null);
        Assert.Single(output.ToString().TrimEnd().Split('\n')); // header only
    }

    [Fact]
    public void FileThatKilledTheAgentTwice_IsQuarantinedNotReadAgain()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var file = AgentWorkspace.GeSlices(1)[0];
        var info = new FileInfo(file);
        using (var database = AgentDatabase.Open(_w.Database))
        {
            // Two attempts recorded and never finished: what two crashes of the agent on this file leave behind.
            var row = database.Files.Register(info.FullName, info.Length, new DateTimeOffset(info.LastWriteTimeUtc).ToUnixTimeMilliseconds());
            database.Files.BeginAttempt(row.Id, "0");
            database.Files.BeginAttempt(row.Id, "0");
        }

        var (exit, _, error) = Classify("table", file);
        Assert.Equal(1, exit);
        Assert.Contains("agent-crashed", error, StringComparison.Ordinal);
        Assert.Equal(0, _w.Count("SELECT count(*) FROM slices"));
        Assert.True(File.Exists(file)); // one-shot classification never moves a technician's files
    }

    [Fact]
    public void FileThatKilledTheAgentTwice_IsQuarantinedBeforeItIsReadIntoMemoryAgain()
    {
        // Reading a file whole can be what killed the agent, so the attempts are checked before the read: a file over
        // the size limit with two unfinished attempts is quarantined as agent-crashed, not read and found too large.
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var file = Directory.EnumerateFiles(SharedData.Philips, "*.dcm", SearchOption.AllDirectories).First(f => new FileInfo(f).Length > (1 << 20));
        var info = new FileInfo(file);
        using (var database = AgentDatabase.Open(_w.Database))
        {
            var row = database.Files.Register(info.FullName, info.Length, new DateTimeOffset(info.LastWriteTimeUtc).ToUnixTimeMilliseconds());
            database.Files.BeginAttempt(row.Id);
            database.Files.BeginAttempt(row.Id);
        }

        var overrides = Overrides;
        overrides["EdgeMed:Dicom:MaxFileMegabytes"] = "1";
        var (exit, _, error) = Classify("table", overrides, file);

        Assert.Equal(1, exit);
        Assert.Contains("agent-crashed", error, StringComparison.Ordinal);
        Assert.DoesNotContain("too-large", error, StringComparison.Ordinal);
    }

    [Fact]
    public void QuarantineRetry_PutsTheFileBackAndItIsReadAgain()
    {
        var refused = Path.Combine(_w.Share, "x.dcm");
        File.WriteAllText(refused, "not DICOM");
        using var database = AgentDatabase.Open(_w.Database);
        var row = database.Files.Register(refused, 9, 1);
        var target = Path.Combine(_w.Quarantine, "x.dcm");
        Directory.CreateDirectory(_w.Quarantine);
        File.Move(refused, target);
        database.Files.SetState(row.Id, FileStates.Quarantined, "not-dicom", "test", target);

        var output = new StringWriter();
        using (var query = AgentHost.Build(AgentMode.Query, null, Overrides))
        {
            Assert.Equal(0, AgentCommands.QuarantineList(query, output));
        }

        Assert.Contains("not-dicom", output.ToString(), StringComparison.Ordinal);
        using var host = AgentHost.Build(AgentMode.Maintenance, null, Overrides);
        Assert.Equal(0, AgentCommands.QuarantineRetry(host, [row.Id], all: false, output, TextWriter.Null));
        Assert.True(File.Exists(refused));
        Assert.Equal(FileStates.Queued, database.Files.Get(row.Id)!.State);
        Assert.Equal("1", database.Status.All()[StatusKeys.RetryGeneration].Value);
        Assert.Equal(2, AgentCommands.QuarantineRetry(host, [row.Id], all: false, output, TextWriter.Null)); // no longer quarantined
    }

    [Fact]
    public void ModelCatalog_RefusesBadPackagesAndKeepsTheModelInUse()
    {
        var options = new AgentOptions { BatchSize = 2, IntraOpThreads = 1 };
        using var database = AgentDatabase.Open(_w.Database);
        using var catalog = new ModelCatalog(_w.Models, options, database, new AgentHealth(), NullLogger.Instance);
        TestPackages.Write(Path.Combine(_w.Models, "good"), 1f, DateTimeOffset.UtcNow.AddHours(-5), "good");
        Assert.True(catalog.Scan());
        var inUse = catalog.Current!;

        // Newer, but: the model file does not match its SHA-256; another preprocessing; an input the agent cannot feed.
        var tampered = TestPackages.Write(Path.Combine(_w.Models, "tampered"), 2f, DateTimeOffset.UtcNow.AddHours(-4), "tampered");
        File.AppendAllText(Path.Combine(tampered, ModelPackage.ModelFile), "x");
        File.SetLastWriteTimeUtc(Path.Combine(tampered, ModelPackage.ModelFile), DateTime.UtcNow.AddMinutes(-1));
        TestPackages.Write(Path.Combine(_w.Models, "old-preprocessing"), 3f, DateTimeOffset.UtcNow.AddHours(-3), "old-preprocessing", preprocessing: "slice-normalizer/0");
        var junk = Path.Combine(_w.Models, "junk");
        TestPackages.Write(junk, 4f, DateTimeOffset.UtcNow.AddHours(-2), "junk");
        File.WriteAllText(Path.Combine(junk, ModelPackage.ModelFile), "not onnx");
        var manifest = JsonSerializer.Deserialize<PackageManifest>(File.ReadAllText(Path.Combine(junk, ModelPackage.ManifestFile)), ModelPackage.Json)!;
        ModelPackage.Write(junk + "-2", manifest, new Dictionary<string, string> { [ModelPackage.ModelFile] = Path.Combine(junk, ModelPackage.ModelFile) });
        Directory.Delete(junk, recursive: true);
        foreach (var f in Directory.GetFiles(junk + "-2"))
        {
            File.SetLastWriteTimeUtc(f, DateTime.UtcNow.AddMinutes(-1));
        }

        Assert.False(catalog.Scan());
        Assert.Same(inUse, catalog.Current);
        var refused = database.Models.InState(ModelStates.Refused);
        Assert.Equal(3, refused.Count);
        Assert.Contains(refused, r => r.Reason!.Contains("SHA-256", StringComparison.OrdinalIgnoreCase) || r.Reason.Contains("hash", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(refused, r => r.Reason!.Contains("slice-normalizer/0", StringComparison.Ordinal));

        // Classes must match when the installation names them.
        var strict = new AgentOptions { BatchSize = 2, IntraOpThreads = 1, ExpectedClasses = ["a", "b"] };
        Assert.Throws<NotForThisDeviceException>(() => ModelCatalog.Load(Path.Combine(_w.Models, "good"), strict));

        // A good newer one is taken.
        TestPackages.Write(Path.Combine(_w.Models, "newer"), 5f, DateTimeOffset.UtcNow.AddHours(-1), "newer");
        Assert.True(catalog.Scan());
        Assert.Equal("newer", catalog.Current!.Identity.Name);
    }

    [Fact]
    public void Database_NewerSchemaIsRefusedAndReopeningKeepsRows_AndOnlyFinalStatesAreFsynced()
    {
        using (var database = AgentDatabase.Open(_w.Database))
        {
            var file = database.Files.Register("/share/a.dcm", 1, 2);
            Assert.Equal("wal", database.Pragma("journal_mode"));
            Assert.Equal(1L, database.Pragma("synchronous")); // NORMAL: a file's progress is not fsynced on its own
            database.Files.BeginAttempt(file.Id, "hash");
            Assert.Equal(1L, database.Pragma("synchronous"));
            database.Files.SetState(file.Id, FileStates.Quarantined, "test", "a final state");
            Assert.Equal(2L, database.Pragma("synchronous")); // FULL: final states, results and quarantine are
        }

        using (var database = AgentDatabase.Open(_w.Database))
        {
            Assert.NotNull(database.Files.Find("/share/a.dcm", 1, 2));
        }

        // A newer EdgeMed wrote this file: its schema version is ahead of ours.
        using (var newer = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_w.Database};Pooling=False"))
        {
            newer.Open();
            using var command = newer.CreateCommand();
            command.CommandText = $"PRAGMA user_version = {AgentDatabase.SchemaVersion + 1}";
            command.ExecuteNonQuery();
        }

        var e = Assert.Throws<InvalidOperationException>(() => AgentDatabase.Open(_w.Database));
        Assert.Contains("newer", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DiskWatermark_PausesOnceAndResumesOnce()
    {
        var free = 100L * 1024 * 1024;
        var logger = new ListLogger();
        var watermark = new DiskWatermark(512, () => free, logger);
        Assert.True(watermark.Check());
        Assert.True(watermark.Check());
        free = 1024L * 1024 * 1024;
        Assert.False(watermark.Check());
        Assert.False(watermark.Check());
        Assert.Equal(2, logger.Lines.Count);
        Assert.Contains("Intake paused", logger.Lines[0], StringComparison.Ordinal);
        Assert.Contains("Intake resumed", logger.Lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void StatusLights_ShowHealthOnTheConfiguredPinsWithPolarityLeftToTheDriver()
    {
        var driver = new RecordingDriver();
        var health = new AgentHealth { ModelLoaded = true };
        var options = Options.Create(new AgentOptions { Lights = new LightOptions { ReadyPin = 17, BusyPin = 27, AlertPin = 22, FaultPin = 23 } });
        var lights = new StatusLights(driver, health, options, NullLogger<StatusLights>.Instance);

        lights.Draw(blinkPhase: true);
        Assert.Equal(new Dictionary<int, bool> { [17] = true, [27] = false, [22] = false, [23] = false }, driver.Lines);
        using (health.BeginInference())
        {
            lights.Draw(blinkPhase: true);
            Assert.True(driver.Lines[27]);
            lights.Draw(blinkPhase: false);
            Assert.False(driver.Lines[27]);
        }

        health.RaiseAlert(TimeSpan.FromMinutes(1));
        health.ShareAvailable = false;
        lights.Draw(blinkPhase: true);
        Assert.Equal(new Dictionary<int, bool> { [17] = false, [27] = false, [22] = true, [23] = true }, driver.Lines);
    }

    [Theory]
    [InlineData("gpiochip99", "no GPIO chip /dev/gpiochip99")]
    [InlineData("/dev/gpiochip99", "no GPIO chip /dev/gpiochip99")]
    [InlineData("99", "no GPIO chip /dev/gpiochip99")]
    [InlineData("pinctrl-bcm2835", "is not gpiochipN, /dev/gpiochipN or a number")]
    public void GpioLights_WithoutAUsableChip_AreOffAndSayWhy(string chip, string why)
    {
        using var driver = GpioLightDriver.Open(chip, [17], activeLow: false);

        Assert.IsType<NullLightDriver>(driver);
        Assert.Contains(why, driver.Description, StringComparison.Ordinal);
    }

    private sealed class RecordingDriver : ILightDriver
    {
        public Dictionary<int, bool> Lines { get; } = [];

        public string Description => "recording";

        public void Drive(int pin, bool lit) => Lines[pin] = lit;

        public void Dispose()
        {
        }
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}
