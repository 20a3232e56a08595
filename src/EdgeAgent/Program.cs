using System.CommandLine;
using EdgeMed.DicomIngest.Decoding;
using EdgeMed.EdgeAgent;
using EdgeMed.EdgeAgent.Cli;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

[assembly: DecoderWorkerHost]

// The isolated DICOM decoder is this program too (see DecoderWorkerHostAttribute); it starts before anything else loads.
if (DecoderWorkerHostAttribute.RunIfWorker(args) is { } workerExit)
{
    return workerExit;
}

// Options every command takes; command-line values override the configuration files and EDGEMED__ variables.
var db = new Option<string?>("--db") { Description = "SQLite database (default ./data/edgemed.db, or /var/lib/edgemed/edgemed.db under systemd)", Recursive = true };
var config = new Option<string?>("--config") { Description = "An extra appsettings.json, read after /etc/edgemed/appsettings.json", Recursive = true };
var share = new Option<string?>("--share") { Description = "The scanner's share to watch" };
var models = new Option<string?>("--models") { Description = "Folder of model packages (or one package); the newest valid one is used" };
var quarantine = new Option<string?>("--quarantine") { Description = "Where refused files are moved" };
var stopWhenIdle = new Option<bool>("--stop-when-idle") { Description = "Exit once every file on the share is finished (batch runs, the demo)" };
var format = new Option<string>("--format") { Description = "table, json or csv", DefaultValueFactory = _ => "table" };
format.AcceptOnlyFromAmong(ResultFormatter.Formats);

Dictionary<string, string?> Overrides(ParseResult r, params (string Key, Option<string?> Option)[] extra)
{
    var values = new Dictionary<string, string?> { ["EdgeMed:Database"] = r.GetValue(db) };
    foreach (var (key, option) in extra)
    {
        values["EdgeMed:" + key] = r.GetValue(option);
    }

    return values;
}

Dictionary<string, string?> WithFlag(Dictionary<string, string?> values, string key, bool on)
{
    if (on)
    {
        values["EdgeMed:" + key] = "true";
    }

    return values;
}

// Builds the host; a bad configuration is reported in one line with exit code 2 instead of a stack trace.
async Task<int> WithHost(ParseResult r, AgentMode mode, Dictionary<string, string?> overrides, Func<IHost, Task<int>> body)
{
    try
    {
        using var host = AgentHost.Build(mode, r.GetValue(config), overrides);
        return await body(host).ConfigureAwait(false);
    }
    catch (Exception e) when (e is OptionsValidationException or InvalidOperationException or FileNotFoundException or FormatException or InvalidDataException or IOException)
    {
        await Console.Error.WriteLineAsync($"edgemed agent: {e.Message}").ConfigureAwait(false);
        return 2;
    }
}

var run = new Command("run", "Run the agent: watch the share, classify every axial MR series, store the results (the systemd service runs this)") { share, models, quarantine, stopWhenIdle };
run.SetAction((r, ct) => WithHost(r, AgentMode.Service, WithFlag(Overrides(r, ("Share", share), ("Models", models), ("Quarantine", quarantine)), "StopWhenIdle", r.GetValue(stopWhenIdle)), async host =>
{
    if (string.IsNullOrWhiteSpace(host.Services.GetRequiredService<IOptions<EdgeMed.EdgeAgent.Configuration.AgentOptions>>().Value.Share))
    {
        await Console.Error.WriteLineAsync("edgemed agent run: no share; set EdgeMed:Share in appsettings.json, EDGEMED__SHARE, or --share DIR.").ConfigureAwait(false);
        return 2;
    }

    // Opened before the host starts, so a database that cannot be opened (a full disk, not a database) is one line
    // here instead of the host's start-up failure with a stack trace.
    host.Services.GetRequiredService<EdgeMed.EdgeAgent.Ledger.AgentDatabase>();
    await host.RunAsync(ct).ConfigureAwait(false);
    return Environment.ExitCode;
}));

var paths = new Argument<string[]>("paths") { Description = "DICOM files or folders (searched recursively)", Arity = ArgumentArity.OneOrMore };
var classify = new Command("classify", "Classify files now (one record per slice); results are stored in the database too") { paths, models, format };
classify.SetAction((r, ct) => WithHost(r, AgentMode.Classify, Overrides(r, ("Models", models)), host =>
    AgentCommands.ClassifyAsync(host, r.GetRequiredValue(paths), r.GetRequiredValue(format), Console.Out, Console.Error, ct)));

var status = new Command("status", "Model, queue depth, files by state over 24 h, last error");
status.SetAction((r, _) => WithHost(r, AgentMode.Query, Overrides(r), host => Task.FromResult(AgentCommands.Status(host, Console.Out))));

var since = new Option<string?>("--since") { Description = "Only results from this time (ISO 8601) or age (30m, 24h, 7d)" };
var seriesLevel = new Option<bool>("--series") { Description = "One record per series instead of per slice" };
var resultsFormat = new Option<string>("--format") { Description = "csv, json, table, or fhir (with --series: one FHIR R4 Bundle per series and line)", DefaultValueFactory = _ => "csv" };
resultsFormat.AcceptOnlyFromAmong([.. ResultFormatter.Formats, "fhir"]);
var results = new Command("results", "Stored results, one record per slice") { since, resultsFormat, seriesLevel };
results.SetAction((r, _) => WithHost(r, AgentMode.Query, Overrides(r), host =>
    Task.FromResult(AgentCommands.Results(host, r.GetValue(since), r.GetRequiredValue(resultsFormat), r.GetValue(seriesLevel), Console.Out, Console.Error))));

var list = new Command("list", "Quarantined files with their reasons");
list.SetAction((r, _) => WithHost(r, AgentMode.Query, Overrides(r), host => Task.FromResult(AgentCommands.QuarantineList(host, Console.Out))));
var ids = new Argument<long[]>("ids") { Description = "Ledger ids from 'quarantine list'", Arity = ArgumentArity.ZeroOrMore };
var all = new Option<bool>("--all") { Description = "Every quarantined file" };
var retry = new Command("retry", "Put quarantined files back on the share to be read again") { ids, all };
retry.SetAction((r, _) => WithHost(r, AgentMode.Maintenance, Overrides(r), host =>
    Task.FromResult(AgentCommands.QuarantineRetry(host, r.GetValue(ids) ?? [], r.GetValue(all), Console.Out, Console.Error))));
var quarantineCommand = new Command("quarantine", "Refused files: list, retry") { list, retry };

var outboxList = new Command("list", "Result objects pending, and those sent in the last 24 h");
outboxList.SetAction((r, _) => WithHost(r, AgentMode.Query, Overrides(r), host => Task.FromResult(OutboxCommands.List(host, Console.Out))));
var outboxIds = new Argument<long[]>("ids") { Description = "Row ids from 'outbox list' (a sent row is sent again)", Arity = ArgumentArity.ZeroOrMore };
var outboxAll = new Option<bool>("--all") { Description = "Every pending row" };
var outboxRetry = new Command("retry", "Send now instead of after the pause (the destination is back), or send again") { outboxIds, outboxAll };
outboxRetry.SetAction((r, _) => WithHost(r, AgentMode.Maintenance, Overrides(r), host =>
    Task.FromResult(OutboxCommands.Retry(host, r.GetValue(outboxIds) ?? [], r.GetValue(outboxAll), Console.Out, Console.Error))));
var outboxCommand = new Command("outbox", "Result objects on their way to the destinations (EdgeMed:Destinations): list, retry") { outboxList, outboxRetry };

var benchInput = new Argument<string>("input") { Description = "Folder of DICOM files (e.g. samples/)" };
var benchModels = new Option<string>("--models") { Description = "A package or a folder of packages (the newest valid one is used)", DefaultValueFactory = _ => EdgeMed.EdgeAgent.Configuration.AgentOptions.ShippedModel };
var rounds = new Option<int>("--rounds") { Description = "Alternating bare/pipeline rounds", DefaultValueFactory = _ => 3 };
var threads = new Option<int>("--threads") { Description = "Intra-op threads", DefaultValueFactory = _ => Environment.ProcessorCount };
var batch = new Option<int>("--batch") { Description = "Batch size", DefaultValueFactory = _ => 8 };
var profile = new Option<string?>("--profile") { Description = "Also profile one bare round with ONNX Runtime: time per operator type; its trace (JSON, chrome://tracing) is written to this file" };
var bench = new Command("bench", "Measure pipeline vs bare inference (slices/s), memory, start to READY; prints ratios") { benchInput, benchModels, rounds, threads, batch, profile };
bench.SetAction(async (r, ct) =>
{
    try
    {
        return await AgentBench.RunAsync(r.GetRequiredValue(benchInput), r.GetRequiredValue(benchModels), r.GetValue(rounds), r.GetValue(threads), r.GetValue(batch), r.GetValue(profile), Console.Out, ct).ConfigureAwait(false);
    }
    catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
    {
        await Console.Error.WriteLineAsync($"edgemed agent bench: {e.Message}").ConfigureAwait(false);
        return 2;
    }
});

var settingKey = new Argument<string?>("key") { Description = "One setting, e.g. Share or Lights:ReadyPin (default: all, as JSON)", Arity = ArgumentArity.ZeroOrOne };
var settings = new Command("settings", "The settings in effect (files, EDGEMED__ variables and defaults merged), or one setting's value") { settingKey };
settings.SetAction((r, _) => WithHost(r, AgentMode.Query, Overrides(r), host => Task.FromResult(SettingsCommand.Print(host, r.GetValue(settingKey), Console.Out, Console.Error))));

var root = new RootCommand("EdgeMed agent: scanner share → DICOM → axial slices → int8 model → SQLite") { run, classify, status, results, quarantineCommand, outboxCommand, bench, settings, db, config };
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
