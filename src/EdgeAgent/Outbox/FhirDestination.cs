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
    public override async Task DeliverAsync(string kind, IReadOnlyDictionary<string, object?> series, CancellationToken cancellationToken)
    {
        if (kind != OutboxObjects.FhirBundle)
        {
            throw Unsupported(kind);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint)
        {
            Content = new ByteArrayContent(Encoding.UTF8.GetBytes(FhirSeriesReport.ToJson(FhirSeriesReport.BuildTransaction(series)))),
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
            if (!response.IsSuccessStatusCode)
            {
                var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                throw new DeliveryException($"HTTP {(int)response.StatusCode} {response.ReasonPhrase}{Diagnostics(body)}");
            }
        }
    }

    /// <summary>The first issue of an OperationOutcome the server sent back, shortened, or nothing.</summary>
    private static string Diagnostics(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.TryGetProperty("issue", out var issues) && issues.ValueKind == JsonValueKind.Array && issues.GetArrayLength() > 0
                && issues[0].TryGetProperty("diagnostics", out var text) && text.GetString() is { Length: > 0 } d)
            {
                return ": " + (d.Length > 200 ? d[..200] + "…" : d).ReplaceLineEndings(" ");
            }
        }
        catch (JsonException)
        {
        }

        return string.Empty;
    }
}
