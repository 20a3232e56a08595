using System.Globalization;
using System.Net;
using System.Text;
using EdgeMed.EdgeAgent.Reports;
using Hl7.Fhir.Model;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// Issue 15, item 4: each series' report POSTed to a FHIR server as a transaction with the outbox's semantics: kept
/// while nothing answers or the server refuses, delivered once it accepts, and a resend updates the same resources.
/// The server is <see cref="FhirReceiver"/> on loopback (no FHIR server is packaged for Debian 12): real HTTP, a
/// transaction applied by id as a FHIR server does, every bundle checked by Firely's validator.
/// </summary>
public sealed class FhirDestinationTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly AgentWorkspace _w = new();
    private readonly int _port = AgentWorkspace.FreeLoopbackPort();

    public FhirDestinationTests() => TestPackages.Write(Path.Combine(_w.Models, "a"), 1f, DateTimeOffset.UtcNow.AddHours(-1));

    public void Dispose() => _w.Dispose();

    private Dictionary<string, string> Routed() => new()
    {
        ["EDGEMED__DESTINATIONS__0__NAME"] = "records",
        ["EDGEMED__DESTINATIONS__0__KIND"] = "fhir",
        ["EDGEMED__DESTINATIONS__0__URL"] = $"http://127.0.0.1:{_port}/fhir",
        ["EDGEMED__SENDRETRYLIMIT"] = "00:00:02",
    };

    [Fact]
    public void Report_WaitsWhileNothingAnswersAndWhileRefused_ThenIsAValidTransaction_AndAResendUpdatesTheSameResources()
    {
        _w.Drop(AgentWorkspace.GeSlices(6), "ge");
        using var agent = _w.Start(Routed());
        AgentWorkspace.WaitFor(() => agent.LinesWith("Destination records unreachable (no answer (ConnectionError))") == 1, Patience, "the refused connection to be reported", agent);

        using var server = new FhirReceiver(_port) { Refuse = true };
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM outbox WHERE last_error LIKE 'HTTP 503 (transient): the record system is in maintenance'") == 1, Patience, "a POST the server refuses", agent);
        Assert.Equal(0, _w.Count("SELECT count(*) FROM outbox WHERE state = 'sent'"));

        server.Refuse = false;
        AgentWorkspace.WaitFor(() => agent.LinesWith("reachable again") == 1, Patience, "the report to be accepted", agent);
        Assert.Equal(1, _w.Count("SELECT count(*) FROM outbox WHERE state = 'sent'"));
        Assert.Equal(1, agent.LinesWith("unreachable")); // one outage, said once, though it failed in two ways
        Assert.DoesNotContain("127.0.0.1", agent.Log, StringComparison.Ordinal); // destinations by name, never by host
        Assert.DoesNotContain("maintenance", agent.Log, StringComparison.Ordinal); // what the server said stays in the row
        Assert.Equal(3, server.Resources.Count);
        var row = _w.Query("SELECT * FROM series").Single();
        var report = FhirSeriesReport.FromJson<DiagnosticReport>(server.Resources.Single(r => r.Key.StartsWith("DiagnosticReport/", StringComparison.Ordinal)).Value.Json);
        Assert.Equal("urn:oid:" + row["study_instance_uid"], report.ImagingStudy.Single().Identifier?.Value);
        Assert.StartsWith("Observation/", report.Result.Single().Reference, StringComparison.Ordinal); // references the server resolves
        var accepted = FhirSeriesReport.FromJson(server.Accepted.Single());
        var outcome = FhirReportTests.R4.Value.Validate(accepted);
        Assert.True(outcome.Success, string.Join("\n", outcome.Issue.Select(i => $"{i.Severity} {i.Details?.Text} @ {string.Join(',', i.Expression)}")));

        using (var retry = AgentProcess.Start(_w.Root, ["outbox", "retry", _w.Count("SELECT id FROM outbox").ToString(CultureInfo.InvariantCulture), "--db", _w.Database], Routed()))
        {
            Assert.True(retry.WaitForExit(Patience), retry.Log);
            Assert.Equal(0, retry.ExitCode);
        }

        AgentWorkspace.WaitFor(() => server.Accepted.Count == 2, Patience, "the resend", agent);
        Assert.Equal(3, server.Resources.Count); // the same three resources, updated in place
        Assert.All(server.Resources.Values, r => Assert.Equal(2, r.Version));
        Assert.Equal(server.Accepted[0], server.Accepted[1]);
        Assert.Equal(0, agent.Terminate());
    }

    [Fact]
    public void ARedirectOrA2xxThatIsNotATransactionResponse_IsAFailedAttempt_NotASentReport()
    {
        using var server = new FhirReceiver(_port) { Redirect = true };
        _w.Drop(AgentWorkspace.GeSlices(6), "ge");
        using var agent = _w.Start(Routed());
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM outbox WHERE last_error LIKE 'HTTP 302: redirected%'") == 1, Patience, "the redirect to count as a failure", agent);

        server.WebPage = true; // first, so no request between the two sees neither
        server.Redirect = false;
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM outbox WHERE last_error LIKE 'HTTP 200 without a FHIR transaction-response%'") == 1, Patience, "a web page's 200 to count as a failure", agent);
        Assert.Equal(0, _w.Count("SELECT count(*) FROM outbox WHERE state = 'sent'"));
        Assert.Empty(server.Accepted);

        server.WebPage = false;
        AgentWorkspace.WaitFor(() => _w.Count("SELECT count(*) FROM outbox WHERE state = 'sent'") == 1, Patience, "the report to be accepted", agent);
        Assert.Single(server.Accepted);
        Assert.Equal(0, agent.Terminate());
    }
}

/// <summary>
/// A FHIR server's transaction endpoint on loopback, as far as the agent uses one: POST [base] with a transaction
/// Bundle whose entries PUT resources by id; stores each resource by type/id with a version count and answers with a
/// transaction-response, or 503 with an OperationOutcome while <see cref="Refuse"/> is set.
/// </summary>
internal sealed class FhirReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Thread _thread;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (string Json, int Version)> _resources = new(StringComparer.Ordinal);
    private readonly List<string> _accepted = [];
    private int _posts;

    public FhirReceiver(int port)
    {
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _thread = new Thread(Serve) { IsBackground = true };
        _thread.Start();
    }

    public volatile bool Refuse;

    /// <summary>Answer a redirect (as a misconfigured Url or an http→https proxy does) instead of taking the POST.</summary>
    public volatile bool Redirect;

    /// <summary>Answer 200 with a web page (as a non-FHIR endpoint does) instead of a transaction-response.</summary>
    public volatile bool WebPage;

    public int Posts => Volatile.Read(ref _posts);

    public IReadOnlyDictionary<string, (string Json, int Version)> Resources
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, (string, int)>(_resources);
            }
        }
    }

    public IReadOnlyList<string> Accepted
    {
        get
        {
            lock (_lock)
            {
                return [.. _accepted];
            }
        }
    }

    private void Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = _listener.GetContext();
            }
            catch (HttpListenerException)
            {
                return;
            }

            using var response = context.Response;
            Interlocked.Increment(ref _posts);
            var (status, body) = Handle(context.Request);
            response.StatusCode = status;
            response.ContentType = status == 200 && body.StartsWith('<') ? "text/html" : "application/fhir+json";
            if (status == 302)
            {
                response.RedirectLocation = "/elsewhere";
            }

            var bytes = Encoding.UTF8.GetBytes(body);
            response.OutputStream.Write(bytes);
        }
    }

    private (int Status, string Body) Handle(HttpListenerRequest request)
    {
        if (request.HttpMethod != "POST" || request.Url?.AbsolutePath != "/fhir" || request.ContentType?.StartsWith("application/fhir+json", StringComparison.Ordinal) != true)
        {
            return (400, Outcome($"expected POST /fhir with application/fhir+json, got {request.HttpMethod} {request.Url?.AbsolutePath} {request.ContentType}"));
        }

        if (Refuse)
        {
            return (503, Outcome("the record system is in maintenance"));
        }

        if (Redirect)
        {
            return (302, string.Empty);
        }

        if (WebPage)
        {
            return (200, "<html><body>integration engine</body></html>");
        }

        using var reader = new StreamReader(request.InputStream, Encoding.UTF8);
        var json = reader.ReadToEnd();
        var bundle = FhirSeriesReport.FromJson(json);
        if (bundle.Type != Bundle.BundleType.Transaction || bundle.Entry.Any(e => e.Request?.Method != Bundle.HTTPVerb.PUT || e.Request.Url != $"{e.Resource?.TypeName}/{e.Resource?.Id}"))
        {
            return (400, Outcome("expected a transaction of PUTs to each resource's own id"));
        }

        lock (_lock)
        {
            foreach (var entry in bundle.Entry)
            {
                var key = entry.Request!.Url!;
                _resources[key] = (FhirSeriesReport.ToJson(entry.Resource!), _resources.TryGetValue(key, out var old) ? old.Version + 1 : 1);
            }

            _accepted.Add(json);
        }

        return (200, FhirSeriesReport.ToJson(new Bundle
        {
            Type = Bundle.BundleType.TransactionResponse,
            Entry = [.. bundle.Entry.Select(e => new Bundle.EntryComponent { Response = new Bundle.ResponseComponent { Status = "200 OK", Location = e.Request!.Url } })],
        }));
    }

    private static string Outcome(string text) => FhirSeriesReport.ToJson(new OperationOutcome
    {
        Issue = [new OperationOutcome.IssueComponent { Severity = OperationOutcome.IssueSeverity.Error, Code = OperationOutcome.IssueType.Transient, Diagnostics = text }],
    });

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _thread.Join(TimeSpan.FromSeconds(5));
    }
}
