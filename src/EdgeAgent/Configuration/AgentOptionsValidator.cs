using EdgeMed.DicomIngest.Slices;
using Microsoft.Extensions.Options;

namespace EdgeMed.EdgeAgent.Configuration;

/// <summary>Checks <see cref="AgentOptions"/> at start, so a bad setting stops the service with a message naming it.</summary>
public sealed class AgentOptionsValidator : IValidateOptions<AgentOptions>
{
    /// <summary>The largest file a byte array can hold, in MB (2 GiB less one MB).</summary>
    public const long MaxFileMegabytesCeiling = 2047;

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, AgentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        void Check(bool ok, string message)
        {
            if (!ok)
            {
                errors.Add(message);
            }
        }

        Check(options.ShareMarker.Length == 0 || (!Path.IsPathRooted(options.ShareMarker) && !options.ShareMarker.Split('/').Contains("..")),
            "EdgeMed:ShareMarker must be a path inside the share (e.g. .edgemed-share), not absolute and without '..'.");
        Check(options.ScanInterval > TimeSpan.Zero, "EdgeMed:ScanInterval must be positive (e.g. 00:00:05).");
        Check(options.SettleTime >= TimeSpan.Zero, "EdgeMed:SettleTime must not be negative.");
        Check(options.SeriesQuietPeriod >= TimeSpan.Zero, "EdgeMed:SeriesQuietPeriod must not be negative.");
        Check(options.ModelScanInterval > TimeSpan.Zero, "EdgeMed:ModelScanInterval must be positive.");
        Check(options.MaxAttempts is >= 1 and <= 10, "EdgeMed:MaxAttempts must be between 1 and 10.");
        Check(options.MaxInferenceCrashes is >= 1 and <= 10, "EdgeMed:MaxInferenceCrashes must be between 1 and 10.");
        Check(options.IncompleteFileWindow >= TimeSpan.Zero, "EdgeMed:IncompleteFileWindow must not be negative (00:00:00 quarantines at once).");
        Check(options.DatabaseBusyTimeout >= TimeSpan.FromSeconds(1), "EdgeMed:DatabaseBusyTimeout must be at least one second (e.g. 00:05:00).");
        // A stage that waits legitimately (for the database, for the decoder) must not be mistaken for a stalled one.
        Check(options.StallTimeout > options.DatabaseBusyTimeout && options.StallTimeout > options.Dicom.DecodeTimeout,
            "EdgeMed:StallTimeout must be longer than EdgeMed:DatabaseBusyTimeout and EdgeMed:Dicom:DecodeTimeout.");
        Check(options.MaxBufferedMegabytes >= 1, "EdgeMed:MaxBufferedMegabytes must be at least 1.");
        Check(options.BatchSize is >= 1 and <= 256, "EdgeMed:BatchSize must be between 1 and 256.");
        Check(options.IntraOpThreads is >= 0 and <= 256, "EdgeMed:IntraOpThreads must be 0 (one per core) or a thread count up to 256.");
        Check(Enum.IsDefined(options.ExecutionProvider), $"EdgeMed:ExecutionProvider must be one of {string.Join(", ", Enum.GetNames<EdgeMed.Onnx.Runtime.ExecutionProvider>())}.");
        Check(options.Precision is "" or "int8" or "fp32", $"EdgeMed:Precision is '{options.Precision}'; it must be int8, fp32 or empty (any).");
        Check(options.MinConfidence is >= 0 and <= 1, "EdgeMed:MinConfidence must be between 0 and 1.");
        Check(options.MaxNormalizedEntropy is >= 0 and <= 1, "EdgeMed:MaxNormalizedEntropy must be between 0 and 1.");
        Check(options.MinSeriesSlices >= 0, "EdgeMed:MinSeriesSlices must not be negative.");
        Check(options.HeatmapSlices is >= 0 and <= 64, "EdgeMed:HeatmapSlices must be 0–64.");
        Check(options.MinFreeDiskMegabytes >= 0, "EdgeMed:MinFreeDiskMegabytes must not be negative.");
        Check(options.Modalities.Count > 0 && options.Modalities.All(m => !string.IsNullOrWhiteSpace(m)), "EdgeMed:Modalities must list at least one modality (e.g. MR).");
        Check(options.Planes.Count > 0, "EdgeMed:Planes must list at least one plane (Axial, Coronal, Sagittal, Oblique).");
        foreach (var plane in options.Planes)
        {
            Check(Enum.TryParse<SlicePlane>(plane, ignoreCase: true, out _), $"EdgeMed:Planes has '{plane}'; known planes are {string.Join(", ", Enum.GetNames<SlicePlane>())}.");
        }

        Check(options.ExpectedClasses.Distinct(StringComparer.Ordinal).Count() == options.ExpectedClasses.Count, "EdgeMed:ExpectedClasses lists a class twice.");
        Check(options.Dicom.MaxPixels > 0 && options.Dicom.MaxFileMegabytes > 0, "EdgeMed:Dicom:MaxPixels and MaxFileMegabytes must be positive.");
        Check(options.Dicom.MaxFileMegabytes <= MaxFileMegabytesCeiling, $"EdgeMed:Dicom:MaxFileMegabytes must be at most {MaxFileMegabytesCeiling}: a file is read into memory whole.");
        Check(options.Dicom.DecodeTimeout > TimeSpan.Zero, "EdgeMed:Dicom:DecodeTimeout must be positive.");
        Check(options.Dicom.PlaneToleranceDegrees is > 0 and < 45, "EdgeMed:Dicom:PlaneToleranceDegrees must be between 0 and 45.");
        Check(!string.IsNullOrEmpty(options.Dicom.PatientKeySalt), "EdgeMed:Dicom:PatientKeySalt must not be empty.");
        Check(!options.Dicom.PatientKeySalt.StartsWith(DicomSettings.PlaceholderSalt, StringComparison.OrdinalIgnoreCase), $"EdgeMed:Dicom:PatientKeySalt is still the template's placeholder ({options.Dicom.PatientKeySalt}); set a secret of this installation's own.");

        var pins = new[] { options.Lights.ReadyPin, options.Lights.BusyPin, options.Lights.AlertPin, options.Lights.FaultPin }.Where(p => p >= 0).ToList();
        Check(pins.Distinct().Count() == pins.Count, "EdgeMed:Lights: two lights share one pin.");
        Check(options.Lights.AlertHold >= TimeSpan.Zero, "EdgeMed:Lights:AlertHold must not be negative.");

        Check(options.SendRetryLimit >= TimeSpan.FromSeconds(2), "EdgeMed:SendRetryLimit must be at least 2 seconds (e.g. 00:05:00).");
        Check(options.Destinations.Select(d => d.Name).Distinct(StringComparer.Ordinal).Count() == options.Destinations.Count, "EdgeMed:Destinations: two destinations share one name.");
        for (var i = 0; i < options.Destinations.Count; i++)
        {
            var d = options.Destinations[i];
            var at = $"EdgeMed:Destinations:{i}";
            Check(d.Name.Length is > 0 and <= 32 && d.Name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'), $"{at}:Name must be 1–32 letters, digits or '-' (it is '{d.Name}').");
            Check(DestinationOptions.Kinds.Contains(d.Kind), $"{at}:Kind is '{d.Kind}'; known kinds are {string.Join(", ", DestinationOptions.Kinds)}.");
            Check(d.Kind != DestinationOptions.FolderKind || Path.IsPathRooted(d.Folder), $"{at}:Folder must be an absolute path (kind folder).");
            Check(d.Kind != DestinationOptions.FhirKind || (Uri.TryCreate(d.Url, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"),
                $"{at}:Url must be the FHIR server's base URL, http:// or https:// (kind fhir).");
            Check(d.Kind != DestinationOptions.DicomKind || IsHost(d.Host), $"{at}:Host must be the PACS's host name or IP address (kind dicom).");
            Check(d.Kind != DestinationOptions.DicomKind || d.Port is > 0 and <= 65535, $"{at}:Port must be 1–65535 (kind dicom; it is {d.Port}).");
            Check(d.Kind != DestinationOptions.DicomKind || IsAeTitle(d.AeTitle), $"{at}:AeTitle must be the PACS's AE title: 1–16 characters, no backslash or control characters, not only spaces, not starting with '-' or '+' (kind dicom).");
            Check(d.Kind != DestinationOptions.DicomKind || IsAeTitle(d.CallingAeTitle), $"{at}:CallingAeTitle must be 1–16 characters, no backslash or control characters, not only spaces, not starting with '-' or '+' (kind dicom).");
            foreach (var o in d.Objects)
            {
                Check(d.Accepts.Contains(o) || !DestinationOptions.Kinds.Contains(d.Kind),
                    $"{at}:Objects has '{o}'; a {d.Kind} destination takes {string.Join(", ", d.Accepts)}.");
                Check(o != Ledger.OutboxObjects.DicomSc || options.HeatmapSlices > 0, $"{at}:Objects has 'dicom-sc', which needs heatmaps: set EdgeMed:HeatmapSlices above 0.");
            }
        }

        // What the agent writes must not be inside what it scans: it would read its own database, packages or refusals.
        if (!string.IsNullOrEmpty(options.Share))
        {
            var share = Path.GetFullPath(options.Share).TrimEnd('/') + "/";
            var written = new[] { ("Quarantine", options.Quarantine), ("Database", options.Database), ("Models", options.Models), ("Heatmaps", options.Heatmaps) }
                .Concat(options.Destinations.Where(d => d.Kind == DestinationOptions.FolderKind).Select(d => ($"Destinations:{options.Destinations.IndexOf(d)}:Folder", d.Folder)));
            foreach (var (setting, path) in written)
            {
                Check(string.IsNullOrEmpty(path) || !(Path.GetFullPath(path).TrimEnd('/') + "/").StartsWith(share, StringComparison.Ordinal), $"EdgeMed:{setting} must not be inside the share (it would be scanned).");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    // PS3.5 6.2: AE is at most 16 characters of the default repertoire without backslash or control characters;
    // leading and trailing spaces are not significant, so a title of spaces only is none. storescu would take a
    // leading '-' or '+' for an option.
    private static bool IsAeTitle(string title) =>
        title.Length is > 0 and <= 16 && title.All(c => c is >= ' ' and <= '~' && c != '\\') && title.Trim().Length > 0 && title[0] is not ('-' or '+');

    // storescu takes the host as an argument: no option-looking or blank values.
    private static bool IsHost(string host) =>
        host.Length is > 0 and <= 253 && !host.StartsWith('-') && host.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or ':' or '_');
}
