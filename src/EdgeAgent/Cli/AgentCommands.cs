using System.Globalization;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Models;
using EdgeMed.EdgeAgent.Pipeline;
using EdgeMed.EdgeAgent.Share;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeMed.EdgeAgent.Cli;

/// <summary>The one-shot commands: classify, status, results, quarantine. Exit codes: 0 ok, 1 some file refused, 2 usage or setup error.</summary>
internal static class AgentCommands
{
    public static async Task<int> ClassifyAsync(IHost host, string[] paths, string format, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var options = host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
        var files = new List<FileCandidate>();
        foreach (var path in paths)
        {
            var full = Path.GetFullPath(path);
            IEnumerable<string> found = Directory.Exists(full)
                ? Directory.EnumerateFiles(full, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true }).Where(f => !ShareScanner.IsSkippedName(Path.GetFileName(f))).Order(StringComparer.Ordinal)
                : File.Exists(full) ? [full] : throw new FileNotFoundException($"not found: {path}");
            files.AddRange(found.Select(f => new FileInfo(f)).Select(f => new FileCandidate(f.FullName, f.Length, new DateTimeOffset(f.LastWriteTimeUtc).ToUnixTimeMilliseconds())));
        }

        var models = host.Services.GetRequiredService<ModelCatalog>();
        models.Scan();
        if (models.Current is null)
        {
            await error.WriteLineAsync($"No usable model package in {options.Models} (see the log above); use --models DIR.").ConfigureAwait(false);
            return 2;
        }

        // Folder by folder (the assembler completes a series when its folder is done), in name order within a folder.
        var queue = AgentPipeline.CreateFileQueue();
        var pipeline = host.Services.GetRequiredService<AgentPipeline>().RunAsync(queue.Reader, _ => { }, Timeout.InfiniteTimeSpan, cancellationToken);
        foreach (var file in files.DistinctBy(f => f.Path).OrderBy(f => Path.GetDirectoryName(f.Path), StringComparer.Ordinal).ThenBy(f => f.Path, StringComparer.Ordinal))
        {
            await queue.Writer.WriteAsync(file, cancellationToken).ConfigureAwait(false);
        }

        queue.Writer.Complete();
        await pipeline.ConfigureAwait(false);

        var database = host.Services.GetRequiredService<AgentDatabase>();
        var records = database.Files.ByPath(files.Select(f => f.Path).ToList());
        var refused = 0;
        foreach (var f in records.Where(f => f.State != FileStates.Done))
        {
            refused += f.State == FileStates.Quarantined || f.Reason == FileReasons.PermissionDenied ? 1 : 0;
            await error.WriteLineAsync($"{f.Path}: {f.State}{(f.Reason is null ? "" : $" ({f.Reason}: {f.Detail})")}").ConfigureAwait(false);
        }

        ResultFormatter.Write(output, format, database.Results.SliceRows(fileIds: records.Where(f => f.State == FileStates.Done).Select(f => f.Id).ToList()));
        return refused > 0 ? 1 : 0;
    }

    public static int Status(IHost host, TextWriter output)
    {
        var options = host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
        var database = host.Services.GetRequiredService<AgentDatabase>();
        var status = database.Status.All();
        string Get(string key) => status.TryGetValue(key, out var v) ? $"{v.Value}   (at {v.UpdatedAt})" : "-";
        var since = DateTimeOffset.UtcNow.AddDays(-1);
        var counts = database.Files.CountByState(since);
        var queue = database.Files.CountUnfinishedByState();
        var waiting = database.Files.CountWaitingByReason();
        var series = database.Results.CountSeries(since);
        static string Counts(IReadOnlyList<(string State, long Count)> rows) =>
            rows.Count > 0 ? string.Join(", ", rows.Select(r => $"{r.Count} {r.State}")) : "none";
        ResultFormatter.WriteBlock(output,
        [
            ("database", $"{database.FilePath} (schema {AgentDatabase.SchemaVersion})"),
            ("share", string.IsNullOrEmpty(options.Share) ? "(not set)" : options.Share),
            ("model", Get(StatusKeys.Model)),
            ("agent", Get(StatusKeys.Process)),
            ("health", Get(StatusKeys.Health)),
            ("queue", Counts(queue)),
            ("waiting", waiting.Count > 0 ? string.Join(", ", waiting.Select(r => $"{r.Count} {r.Reason}")) : "none"),
            ("files, 24 h", Counts(counts)),
            ("series, 24 h", $"{series.Series} classified, {series.LowConfidence} low-confidence"),
            ("outbox", OutboxCommands.StatusLine(database, [.. options.Destinations.Select(d => d.Name)])),
            ("last error", Get(StatusKeys.LastError)),
        ]);
        return 0;
    }

    public static int Results(IHost host, string? since, string format, bool seriesLevel, TextWriter output, TextWriter error)
    {
        var database = host.Services.GetRequiredService<AgentDatabase>();
        var from = ResultFormatter.ParseSince(since);
        if (!seriesLevel && format == "fhir")
        {
            error.WriteLine("edgemed agent results: --format fhir reports series; add --series.");
            return 2;
        }

        if (!seriesLevel)
        {
            ResultFormatter.Write(output, format, database.Results.SliceRows(from));
            return 0;
        }

        var rows = database.Results.SeriesRows(from);
        if (format == "fhir")
        {
            // One FHIR R4 Bundle per series, one per line (NDJSON), for a record system's import.
            foreach (var row in rows)
            {
                output.WriteLine(Reports.FhirSeriesReport.ToJson(Reports.FhirSeriesReport.Build(row)));
            }

            return 0;
        }

        if (format == "json")
        {
            output.WriteLine(System.Text.Json.JsonSerializer.Serialize(rows, ResultFormatter.Indented));
            return 0;
        }

        if (format == "csv")
        {
            ResultFormatter.WriteCsv(output, database.Results.SeriesColumns(), rows);
            return 0;
        }

        foreach (var row in rows)
        {
            output.WriteLine($"{row["modality"]} {row["description"]}  series …{Tail((string)row["series_instance_uid"]!)}  {row["slice_count"]} slices  → {row["predicted_class"]}  p={Convert.ToDouble(row["max_probability"], CultureInfo.InvariantCulture):F3}"
                  + $"  low_confidence={(Convert.ToInt64(row["low_confidence"], CultureInfo.InvariantCulture) == 1 ? "yes" : "no")}  flags={(row["quality_flags"] is "" ? "none" : row["quality_flags"])}  model={row["model_name"]} {row["model_version"]}  inference {Convert.ToDouble(row["inference_ms"], CultureInfo.InvariantCulture):F0} ms");
        }

        return 0;
    }

    private static string Tail(string uid) => uid.Length > 12 ? uid[^12..] : uid;

    public static int QuarantineList(IHost host, TextWriter output)
    {
        var files = host.Services.GetRequiredService<AgentDatabase>().Files.Quarantined();
        foreach (var f in files)
        {
            var where = string.IsNullOrEmpty(f.QuarantinePath) ? $"{f.Path} (marked in place)" : $"{f.QuarantinePath} (from {f.Path})";
            output.WriteLine($"{f.Id,6}  {f.UpdatedAt}  {f.Reason}  {where}  — {f.Detail}");
        }

        output.WriteLine($"{files.Count} quarantined");
        return 0;
    }

    private static bool SameBytes(string a, string b)
    {
        if (new FileInfo(a).Length != new FileInfo(b).Length)
        {
            return false;
        }

        using var first = File.OpenRead(a);
        using var second = File.OpenRead(b);
        return System.Security.Cryptography.SHA256.HashData(first).AsSpan().SequenceEqual(System.Security.Cryptography.SHA256.HashData(second));
    }

    public static int QuarantineRetry(IHost host, long[] ids, bool all, TextWriter output, TextWriter error)
    {
        var database = host.Services.GetRequiredService<AgentDatabase>();
        var files = database.Files.Quarantined().Where(f => all || ids.Contains(f.Id)).ToList();
        if (files.Count == 0)
        {
            error.WriteLine(all ? "Nothing is quarantined." : $"No quarantined file with id {string.Join(", ", ids)} (see: agent quarantine list).");
            return 2;
        }

        var failed = 0;
        foreach (var f in files)
        {
            // Back to where it was found, modification time kept, so the running agent takes it as the same file.
            if (!string.IsNullOrEmpty(f.QuarantinePath) && File.Exists(f.QuarantinePath))
            {
                if (File.Exists(f.Path) && !SameBytes(f.Path, f.QuarantinePath))
                {
                    error.WriteLine($"{f.Id}: {f.Path} exists again; left {f.QuarantinePath} where it is.");
                    failed++;
                    continue;
                }

                if (File.Exists(f.Path))
                {
                    File.Delete(f.QuarantinePath); // a move across file systems cut short: the original is still there
                }
                else
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(f.Path)!);
                    File.Move(f.QuarantinePath, f.Path);
                }
            }
            else if (!File.Exists(f.Path))
            {
                error.WriteLine($"{f.Id}: neither {f.QuarantinePath} nor {f.Path} exists any more.");
                failed++;
                continue;
            }

            database.Files.ResetForRetry(f.Id);
            output.WriteLine($"{f.Id}: queued again ({f.Path})");
        }

        return failed > 0 ? 1 : 0;
    }
}
