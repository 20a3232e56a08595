using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;

namespace EdgeMed.EdgeAgent.Reports;

/// <summary>
/// One stored series as a FHIR R4 Bundle (type collection): a DiagnosticReport that references the imaging study by
/// its Study Instance UID, one Observation with the series class and each class's mean probability, and the model as
/// a Device (name, version, SHA-256). Status preliminary and "not for diagnosis": the model is not validated for
/// clinical use. No patient data: the record system links the report through the study. Ids are derived from the
/// series UID (the Device's from the model's SHA-256: one model, one Device), so a report built again (a resend,
/// another run) is the same object. For a file, a collection with <c>urn:uuid</c> references; for a FHIR server, a
/// transaction of PUTs to those same ids.
/// </summary>
internal static class FhirSeriesReport
{
    /// <summary>Code systems of our own (no standard code exists for these model outputs).</summary>
    internal const string ClassSystem = "urn:edgemed:class";

    private static readonly JsonSerializerOptions Json = new JsonSerializerOptions().ForFhir(ModelInfo.ModelInspector);

    /// <summary>Builds the bundle from a row of the <c>series</c> table (<see cref="Ledger.ResultStore.SeriesRows"/>).</summary>
    public static Bundle Build(IReadOnlyDictionary<string, object?> series) => Assemble(series, transaction: false);

    /// <summary>
    /// The same resources as a transaction for a FHIR server (POSTed to its base URL): each entry a PUT to the
    /// resource's own id, references relative, so the server creates them once and a resend updates them in place
    /// instead of adding copies.
    /// </summary>
    public static Bundle BuildTransaction(IReadOnlyDictionary<string, object?> series) => Assemble(series, transaction: true);

    private static Bundle Assemble(IReadOnlyDictionary<string, object?> series, bool transaction)
    {
        ArgumentNullException.ThrowIfNull(series);
        var uid = Text(series, "series_instance_uid");
        var predicted = Text(series, "predicted_class");
        var probability = Number(series, "max_probability");
        var low = Convert.ToInt64(series["low_confidence"], CultureInfo.InvariantCulture) == 1;
        var flags = Text(series, "quality_flags");
        var at = new FhirDateTime(DateTimeOffset.Parse(Text(series, "classified_at"), CultureInfo.InvariantCulture));
        var probabilities = JsonSerializer.Deserialize<Dictionary<string, double>>(Text(series, "probabilities")) ?? [];
        var (reportId, observationId, deviceId) = (Uuid("report", uid), Uuid("observation", uid), Uuid("device", Text(series, "model_sha256")));
        string Reference(string type, string id) => transaction ? $"{type}/{id}" : "urn:uuid:" + id;
        var (observationUrl, deviceUrl) = (Reference("Observation", observationId), Reference("Device", deviceId));
        var notice = "Not for diagnosis: the model is not validated for clinical use.";

        var device = new Device
        {
            Status = Device.FHIRDeviceStatus.Active,
            Identifier = [new Identifier("urn:edgemed:model-sha256", Text(series, "model_sha256"))],
            DeviceName = [new Device.DeviceNameComponent { Name = Text(series, "model_name"), Type = DeviceNameType.ModelName }],
            Version = [new Device.VersionComponent { Value = Text(series, "model_version") }],
        };

        var observation = new Observation
        {
            Status = ObservationStatus.Preliminary,
            Code = new CodeableConcept("urn:edgemed:observation", "series-class", "Brain MRI class from the EdgeMed model (series)"),
            Value = new CodeableConcept(ClassSystem, predicted, predicted),
            Effective = at,
            Device = new ResourceReference(deviceUrl),
            Component = [.. probabilities.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new Observation.ComponentComponent
            {
                Code = new CodeableConcept(ClassSystem, p.Key, p.Key),
                Value = new Quantity { Value = (decimal)Math.Round(p.Value, 6), System = "http://unitsofmeasure.org", Code = "1", Unit = "probability" },
            })],
            Note = [new Annotation { Text = $"{Text(series, "slice_count")} slices; low confidence: {(low ? "yes" : "no")}; quality flags: {(flags.Length == 0 ? "none" : flags)}. {notice}" }],
        };
        if (low)
        {
            observation.Interpretation = [new CodeableConcept("urn:edgemed:flag", "low-confidence", "Low confidence")];
        }

        var report = new DiagnosticReport
        {
            Status = DiagnosticReport.DiagnosticReportStatus.Preliminary,
            Code = new CodeableConcept("urn:edgemed:report", "brain-mri-classification", "Brain MRI classification (EdgeMed)"),
            Effective = at,
            Issued = DateTimeOffset.Parse(Text(series, "classified_at"), CultureInfo.InvariantCulture),
            Result = [new ResourceReference(observationUrl)],
            Conclusion = string.Create(CultureInfo.InvariantCulture, $"{predicted} (probability {probability:F3}){(low ? ", low confidence" : string.Empty)}. {notice}"),
        };
        if (series.TryGetValue("study_instance_uid", out var study) && study is string studyUid && studyUid.Length > 0)
        {
            report.ImagingStudy = [new ResourceReference { Type = "ImagingStudy", Identifier = new Identifier("urn:dicom:uid", "urn:oid:" + studyUid) }];
        }

        Bundle.EntryComponent Entry(Resource resource, string type, string id)
        {
            if (!transaction)
            {
                return new Bundle.EntryComponent { FullUrl = "urn:uuid:" + id, Resource = resource };
            }

            resource.Id = id;
            return new Bundle.EntryComponent { Resource = resource, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.PUT, Url = $"{type}/{id}" } };
        }

        return new Bundle
        {
            Id = Uuid("bundle", uid),
            Type = transaction ? Bundle.BundleType.Transaction : Bundle.BundleType.Collection,
            Entry = [Entry(report, "DiagnosticReport", reportId), Entry(observation, "Observation", observationId), Entry(device, "Device", deviceId)],
        };
    }

    /// <summary>A resource (the bundle) as FHIR JSON on one line.</summary>
    public static string ToJson(Resource resource) => JsonSerializer.Serialize(resource, resource?.GetType() ?? typeof(Resource), Json);

    /// <summary>Reads a bundle's FHIR JSON back (tests, and receivers of what we wrote).</summary>
    public static Bundle FromJson(string json) => FromJson<Bundle>(json);

    /// <summary>Reads FHIR JSON of one resource type back.</summary>
    public static T FromJson<T>(string json) where T : Resource => JsonSerializer.Deserialize<T>(json, Json) ?? throw new InvalidDataException("empty FHIR JSON");

    /// <summary>A name-based UUID over SHA-256 (RFC 9562 version 8: custom; version 5 would mean SHA-1) for one resource.</summary>
    private static string Uuid(string kind, string key)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"edgemed/{kind}/{key}"))[..16];
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash, bigEndian: true).ToString("D");
    }

    private static string Text(IReadOnlyDictionary<string, object?> row, string column) =>
        Convert.ToString(row[column], CultureInfo.InvariantCulture) ?? string.Empty;

    private static double Number(IReadOnlyDictionary<string, object?> row, string column) =>
        Convert.ToDouble(row[column], CultureInfo.InvariantCulture);
}
