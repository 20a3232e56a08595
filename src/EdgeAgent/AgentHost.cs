using System.Collections;
using EdgeMed.DicomIngest;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Lights;
using EdgeMed.EdgeAgent.Models;
using EdgeMed.EdgeAgent.Operations;
using EdgeMed.EdgeAgent.Pipeline;
using EdgeMed.EdgeAgent.Share;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace EdgeMed.EdgeAgent;

/// <summary>What a command needs from the host.</summary>
internal enum AgentMode
{
    /// <summary>The service: scanner, pipeline, lights, systemd.</summary>
    Service,

    /// <summary>One-shot classification of given files: pipeline only, files never moved.</summary>
    Classify,

    /// <summary>Database queries (status, results, quarantine list, settings): the database is opened read-only.</summary>
    Query,

    /// <summary>Changes to the ledger by hand (quarantine retry): the database read-write, no pipeline.</summary>
    Maintenance,
}

/// <summary>Builds the host of every command: configuration, logging, options, and the components the mode needs.</summary>
internal static class AgentHost
{
    /// <summary>Whether this process runs as a systemd service (journald shows the log; service paths are the defaults).</summary>
    public static bool UnderSystemd => Environment.GetEnvironmentVariable("INVOCATION_ID") is { Length: > 0 } || Environment.GetEnvironmentVariable("JOURNAL_STREAM") is { Length: > 0 };

    /// <summary>
    /// EDGEMED__SHARE=/mnt/scanner is EdgeMed:Share; other variables stay out of the configuration. Linux variable
    /// names are case-sensitive but setting keys are not: two spellings of one setting with different values are
    /// refused by name, not left to whichever the configuration would see last.
    /// </summary>
    private static IEnumerable<KeyValuePair<string, string?>> EnvironmentSettings()
    {
        var settings = new Dictionary<string, (string Variable, string? Value)>(StringComparer.OrdinalIgnoreCase);
        var variables = Environment.GetEnvironmentVariables().Cast<DictionaryEntry>().Select(e => (Name: (string)e.Key, Value: (string?)e.Value));
        foreach (var (variable, value) in variables.Where(v => v.Name.StartsWith("EDGEMED__", StringComparison.OrdinalIgnoreCase)).OrderBy(v => v.Name, StringComparer.Ordinal))
        {
            var key = AgentOptions.Section + ":" + variable["EDGEMED__".Length..].Replace("__", ":", StringComparison.Ordinal);
            if (settings.TryGetValue(key, out var seen) && !string.Equals(seen.Value, value, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"The environment sets {key} twice with different values ({seen.Variable} and {variable}); keep one.");
            }

            settings[key] = (variable, value);
        }

        return settings.Select(kv => KeyValuePair.Create(kv.Key, kv.Value.Value));
    }

    public static IHost Build(AgentMode mode, string? configFile, IReadOnlyDictionary<string, string?> overrides)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddJsonFile("/etc/edgemed/appsettings.json", optional: true);
        if (configFile is not null)
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false);
        }

        builder.Configuration.AddInMemoryCollection(EnvironmentSettings());
        builder.Configuration.AddInMemoryCollection(overrides.Where(kv => kv.Value is not null));

        builder.Logging.ClearProviders();
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        if (UnderSystemd)
        {
            builder.Logging.AddSystemdConsole();
        }
        else
        {
            builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "yyyy-MM-dd HH:mm:ss "; });
        }

        // stdout carries command output (json, csv); the log goes to stderr.
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

        var underSystemd = UnderSystemd;
        builder.Services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>();
        builder.Services.AddOptions<AgentOptions>().Bind(builder.Configuration.GetSection(AgentOptions.Section))
            .PostConfigure(o => o.ApplyDefaults(underSystemd)).ValidateOnStart();
        builder.Services.AddSingleton(sp => mode == AgentMode.Query
            ? AgentDatabase.OpenReadOnly(Options(sp).Database)
            : AgentDatabase.Open(Options(sp).Database, new LockPatience(Options(sp).DatabaseBusyTimeout, Logger(sp, "Database"))));
        if (mode is not (AgentMode.Query or AgentMode.Maintenance))
        {
            AddPipeline(builder.Services, mode);
        }

        return builder.Build();
    }

    private static AgentOptions Options(IServiceProvider sp) => sp.GetRequiredService<IOptions<AgentOptions>>().Value;

    private static ILogger Logger(IServiceProvider sp, string name) => sp.GetRequiredService<ILoggerFactory>().CreateLogger("EdgeMed.Agent." + name);

    private static void AddPipeline(IServiceCollection services, AgentMode mode)
    {
        services.AddSingleton(sp => new AgentHealth { StallTimeout = Options(sp).StallTimeout });
        services.AddSingleton(sp => new DicomReader(Options(sp).ToIngestOptions(), DecoderIsolation.SeparateProcess, Logger(sp, "Dicom")));
        services.AddSingleton(sp => new ModelCatalog(Options(sp).Models, Options(sp), sp.GetRequiredService<AgentDatabase>(), sp.GetRequiredService<AgentHealth>(), Logger(sp, "Models")));
        services.AddSingleton(sp => new QuarantineFolder(Options(sp).Quarantine, mode == AgentMode.Service ? Options(sp).Share : null, moveFiles: mode == AgentMode.Service));
        services.AddSingleton(sp => new InstanceReader(sp.GetRequiredService<AgentDatabase>(), sp.GetRequiredService<DicomReader>(), sp.GetRequiredService<QuarantineFolder>(), Options(sp), sp.GetRequiredService<AgentHealth>(), Logger(sp, "Reader")));
        services.AddSingleton(sp => new SeriesClassifier(sp.GetRequiredService<AgentDatabase>(), sp.GetRequiredService<ModelCatalog>(), Options(sp), sp.GetRequiredService<AgentHealth>(), Logger(sp, "Classifier"),
            mode == AgentMode.Service ? Outbox.OutboxSender.Routes(Options(sp)) : []));
        services.AddSingleton(sp => new AgentPipeline(sp.GetRequiredService<InstanceReader>(), sp.GetRequiredService<SeriesClassifier>(), Options(sp), Logger(sp, "Assembler")));
        if (mode != AgentMode.Service)
        {
            return;
        }

        services.AddSingleton(sp => new Outbox.OutboxSender(sp.GetRequiredService<AgentDatabase>(), Options(sp), sp.GetRequiredService<AgentHealth>(), Logger(sp, "Outbox")));
        services.AddSingleton(sp => new DiskWatermark(Path.GetDirectoryName(Path.GetFullPath(Options(sp).Database))!, Options(sp).MinFreeDiskMegabytes, Logger(sp, "Disk")));
        services.AddSingleton(sp => new ShareScanner(Options(sp), sp.GetRequiredService<AgentDatabase>(), sp.GetRequiredService<DiskWatermark>(), sp.GetRequiredService<AgentHealth>(), Logger(sp, "Share")));
        // With a notify socket, the hosting package's SystemdLifetime sends READY=1 once the host has started and
        // STOPPING=1 on stop; SystemdService adds STATUS= and the watchdog through the same notifier. Chosen by the
        // socket, not by AddSystemd(), which switches on only when systemd is the parent process (tests and
        // `agent bench` listen on a socket of their own).
        services.AddSingleton<ISystemdNotifier, SystemdNotifier>();
        if (Environment.GetEnvironmentVariable("NOTIFY_SOCKET") is { Length: > 0 })
        {
            services.AddSingleton<IHostLifetime, SystemdLifetime>();
        }
        services.AddSingleton<ILightDriver>(sp =>
        {
            var lights = Options(sp).Lights;
            return lights.AnyWired
                ? GpioLightDriver.Open(lights.Chip, new[] { lights.ReadyPin, lights.BusyPin, lights.AlertPin, lights.FaultPin }.Where(p => p >= 0), lights.ActiveLow)
                : new NullLightDriver("no light wired (EdgeMed:Lights)");
        });
        services.AddHostedService<AgentService>();
        services.AddHostedService<SystemdService>();
        services.AddHostedService<StatusLights>();
    }
}
