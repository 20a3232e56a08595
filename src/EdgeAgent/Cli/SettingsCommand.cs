using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using EdgeMed.EdgeAgent.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EdgeMed.EdgeAgent.Cli;

/// <summary>
/// <c>agent settings [KEY]</c>: the settings in effect (files, <c>EDGEMED__</c> variables and defaults merged and
/// validated), as JSON, or one value, e.g. <c>settings Share</c> or <c>settings Lights:ReadyPin</c>. The patient-key
/// salt is never printed. install.sh reads the share from here to grant the unit write access to it.
/// </summary>
internal static class SettingsCommand
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    public static int Print(IHost host, string? key, TextWriter output, TextWriter error)
    {
        var options = host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
        var tree = JsonSerializer.SerializeToNode(options, Json)!.AsObject();
        tree[nameof(AgentOptions.Dicom)]![nameof(DicomSettings.PatientKeySalt)] = "(not shown)";
        if (key is null)
        {
            output.WriteLine(tree.ToJsonString(Json));
            return 0;
        }

        JsonNode? node = tree;
        foreach (var part in key.Split(':'))
        {
            node = node is JsonObject o ? o.FirstOrDefault(p => string.Equals(p.Key, part, StringComparison.OrdinalIgnoreCase)).Value : null;
        }

        if (node is null)
        {
            error.WriteLine($"edgemed agent settings: no setting '{key}' (run 'settings' without a key to list them)");
            return 2;
        }

        output.WriteLine(node is JsonValue v && v.TryGetValue<string>(out var text) ? text : node.ToJsonString(Json));
        return 0;
    }
}
