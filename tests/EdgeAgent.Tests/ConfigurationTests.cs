using EdgeMed.EdgeAgent.Cli;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>Settings as the host binds them, and the CSV a technician opens in a spreadsheet.</summary>
public sealed class ConfigurationTests : IDisposable
{
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    private AgentOptions Bound(Dictionary<string, string?> values)
    {
        values["EdgeMed:Database"] = _w.Database;
        using var host = AgentHost.Build(AgentMode.Query, null, values);
        return host.Services.GetRequiredService<IOptions<AgentOptions>>().Value;
    }

    [Fact]
    public void ConfiguredLists_ReplaceTheDefaults_AndAbsentOnesKeepThem()
    {
        var ct = Bound(new() { ["EdgeMed:Modalities:0"] = "CT", ["EdgeMed:Planes:0"] = "Coronal", ["EdgeMed:Planes:1"] = "Sagittal" });
        Assert.Equal(["CT"], ct.Modalities);
        Assert.Equal(["Coronal", "Sagittal"], ct.Planes);

        var defaults = Bound([]);
        Assert.Equal(AgentOptions.DefaultModalities, defaults.Modalities);
        Assert.Equal(AgentOptions.DefaultPlanes, defaults.Planes);
    }

    [Fact]
    public void Csv_HasAHeader_Rfc4180Quoting_CrLf_AndNeutralizedFormulas()
    {
        var output = new StringWriter();
        ResultFormatter.WriteCsv(output, ["path", "description", "position", "note"],
        [
            new Dictionary<string, object?> { ["path"] = "/share/a,b/\"x\".dcm", ["description"] = "=HYPERLINK(\"http://x\")", ["position"] = -12.5, ["note"] = null },
            new Dictionary<string, object?> { ["path"] = "@SUM(A1)", ["description"] = "two\nlines", ["position"] = "+3", ["note"] = "-cmd" },
        ]);
        Assert.Equal(
            "path,description,position,note\r\n"
            + "\"/share/a,b/\"\"x\"\".dcm\",\"'=HYPERLINK(\"\"http://x\"\")\",-12.5,\r\n"
            + "'@SUM(A1),\"two\nlines\",+3,'-cmd\r\n",
            output.ToString());
    }

    [Fact]
    public void ResultsSeriesCsv_HasAHeaderEvenWithoutRows()
    {
        AgentDatabase.Open(_w.Database).Dispose();
        using var host = AgentHost.Build(AgentMode.Query, null, new Dictionary<string, string?> { ["EdgeMed:Database"] = _w.Database });
        var output = new StringWriter();
        Assert.Equal(0, AgentCommands.Results(host, null, "csv", seriesLevel: true, output, TextWriter.Null));
        var header = output.ToString();
        Assert.StartsWith("series_instance_uid,", header, StringComparison.Ordinal);
        Assert.EndsWith("\r\n", header, StringComparison.Ordinal);
        Assert.Contains(",predicted_class,", header, StringComparison.Ordinal);
    }
}
