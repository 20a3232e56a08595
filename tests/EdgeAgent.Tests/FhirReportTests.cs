using Firely.Fhir.Validation;
using Hl7.Fhir.Model;
using Hl7.Fhir.Specification.Source;
using Hl7.Fhir.Specification.Terminology;
using EdgeMed.EdgeAgent.Reports;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 15, item 4 (first part): each stored series as a FHIR R4 Bundle (DiagnosticReport, Observation, Device),
/// from <c>agent results --series --format fhir</c>, checked by Firely's validator against the R4 specification.
/// </summary>
public sealed class FhirReportTests : IDisposable
{
    /// <summary>Firely's validator with the R4 specification (slow to build: once per test run).</summary>
    internal static readonly Lazy<Validator> R4 = new(() =>
    {
        var source = ZipSource.CreateValidationSource();
        return new Validator(source, LocalTerminologyService.CreateDefaultForCore(source));
    });

    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void EachSeries_IsAValidBundle_ThatNamesTheStudyClassProbabilitiesAndModel_AndIsTheSameWhenBuiltAgain()
    {
        TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));
        _w.Drop(AgentWorkspace.GeSlices(6), "ge");
        _w.Drop(AgentWorkspace.PhilipsSlices(3), "philips");
        using (var agent = _w.Start(extraArgs: "--stop-when-idle"))
        {
            Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(90)), agent.Log);
        }

        var first = Results();
        var again = Results();
        Assert.Equal(2, first.Length);
        Assert.Equal(first, again); // same ids, same content: a resend is the same object

        var stored = _w.Query("SELECT * FROM series").ToDictionary(r => (string)r["study_instance_uid"]!);
        foreach (var line in first)
        {
            var bundle = FhirSeriesReport.FromJson(line);
            var outcome = R4.Value.Validate(bundle);
            Assert.True(outcome.Success, string.Join("\n", outcome.Issue.Select(i => $"{i.Severity} {i.Details?.Text} @ {string.Join(',', i.Expression)}")));

            var report = bundle.Entry.Select(e => e.Resource).OfType<DiagnosticReport>().Single();
            var observation = bundle.Entry.Select(e => e.Resource).OfType<Observation>().Single();
            var device = bundle.Entry.Select(e => e.Resource).OfType<Device>().Single();
            var study = report.ImagingStudy.Single().Identifier!.Value!["urn:oid:".Length..];
            var row = stored[study];
            Assert.Equal(DiagnosticReport.DiagnosticReportStatus.Preliminary, report.Status);
            Assert.Contains("Not for diagnosis", report.Conclusion, StringComparison.Ordinal);
            Assert.Equal(row["predicted_class"], ((CodeableConcept)observation.Value!).Coding.Single().Code);
            Assert.Equal(TestPackages.Classes, observation.Component.Select(c => c.Code.Coding.Single().Code));
            Assert.InRange(observation.Component.Sum(c => (double)((Quantity)c.Value!).Value!.Value), 0.999, 1.001);
            Assert.Equal(row["model_sha256"], device.Identifier.Single().Value);
            Assert.Equal(bundle.Entry[1].FullUrl, report.Result.Single().Reference);
            Assert.DoesNotContain("PATIENT", line, StringComparison.OrdinalIgnoreCase); // no patient data in the report
        }
    }

    [Fact]
    public void TheValidatorBites_ABundleWithoutTheObservationsStatusFails()
    {
        var row = new Dictionary<string, object?>
        {
            ["series_instance_uid"] = "1.2.3", ["study_instance_uid"] = "1.2", ["predicted_class"] = "NonDemented", ["max_probability"] = 0.9,
            ["low_confidence"] = 1L, ["quality_flags"] = "gaps", ["classified_at"] = "2026-12-01T12:00:00.000Z", ["slice_count"] = 6L,
            ["probabilities"] = "{\"NonDemented\":0.9,\"MildDemented\":0.1}", ["model_sha256"] = "ab", ["model_name"] = "m", ["model_version"] = "1",
        };
        var bundle = FhirSeriesReport.Build(row);
        Assert.True(R4.Value.Validate(bundle).Success);
        Assert.Equal("low-confidence", bundle.Entry.Select(e => e.Resource).OfType<Observation>().Single().Interpretation.Single().Coding.Single().Code);

        bundle.Entry.Select(e => e.Resource).OfType<Observation>().Single().Status = null;
        Assert.False(R4.Value.Validate(bundle).Success);
    }

    private string[] Results()
    {
        using var cli = AgentProcess.Start(_w.Root, ["results", "--series", "--format", "fhir", "--db", _w.Database], new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "Warning" });
        Assert.True(cli.WaitForExit(TimeSpan.FromSeconds(60)), cli.Log);
        Assert.True(cli.ExitCode == 0, cli.Log);
        return [.. cli.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith('{'))];
    }
}
