using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Reports;

namespace EdgeMed.EdgeAgent.Outbox;

/// <summary>
/// A FHIR R4 server: each series' report is POSTed to its base URL as a transaction whose entries PUT each resource
/// to its own id (<see cref="FhirSeriesReport.BuildTransaction"/>), so a resend updates the same resources instead of
/// adding copies. Any answer but 2xx, a refused connection or a timeout is a failed attempt, retried after the pause.
/// </summary>
internal sealed class FhirDestination(Uri endpoint, HttpClient http) : Destination
{
    private static readonly MediaTypeHeaderValue FhirJson = new("application/fhir+json") { CharSet = "utf-8" };

    /// <inheritdoc />
    public override async Task DeliverAsync(string kind, StoredSeries series, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (kind != OutboxObjects.FhirBundle)
        {
            throw Unsupported(kind);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint)
        {
            Content = new ByteArrayContent(Encoding.UTF8.GetBytes(FhirSeriesReport.ToJson(FhirSeriesReport.BuildTransaction(series.Row)))),
        };
        request.Content.Headers.ContentType = FhirJson;
        request.Headers.Accept.ParseAdd("application/fhir+json");
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            // Its message names the host and port; the error kind says enough for the log.
            throw new DeliveryException($"no answer ({e.HttpRequestError})");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new DeliveryException($"no answer within {http.Timeout.TotalSeconds:F0} s");
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (status is >= 300 and < 400)
            {
                // Not followed: a redirected POST becomes a GET, whose 2xx would mark an undelivered report sent.
                throw new DeliveryException($"HTTP {status}: redirected (check the destination's Url)");
            }

            if (!response.IsSuccessStatusCode)
            {
                var (code, text) = Outcome(body);
                throw new DeliveryException($"HTTP {status}{(code is null ? string.Empty : $" ({code})")}", text);
            }

            if (!IsTransactionResponse(body))
            {
                throw new DeliveryException($"HTTP {status} without a FHIR transaction-response (is the Url the FHIR server's base?)");
            }
        }
    }

    /// <summary>The first issue of an OperationOutcome the server sent back: its code (logged) and diagnostics (kept in the row only: servers echo URLs and content there).</summary>
    private static (string? Code, string? Text) Outcome(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("issue", out var issues)
                && issues.ValueKind == JsonValueKind.Array && issues.GetArrayLength() > 0 && issues[0].ValueKind == JsonValueKind.Object)
            {
                var issue = issues[0];
                var code = issue.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String && c.GetString() is { } cs && cs.All(char.IsAsciiLetterOrDigit) ? cs : null;
                var text = issue.TryGetProperty("diagnostics", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
                return (code, text is { Length: > 200 } ? text[..200] + "…" : text?.ReplaceLineEndings(" "));
            }
        }
        catch (JsonException)
        {
        }

        return (null, null);
    }

    private static bool IsTransactionResponse(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            return root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("resourceType", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "Bundle"
                && root.TryGetProperty("type", out var kind) && kind.ValueKind == JsonValueKind.String && kind.GetString() == "transaction-response";
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
