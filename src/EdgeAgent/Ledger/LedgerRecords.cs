namespace EdgeMed.EdgeAgent.Ledger;

/// <summary>States of a file in the ledger. Stored as text; the CLI prints them.</summary>
public static class FileStates
{
    /// <summary>Seen and settled; waiting to be read (or read again after a restart).</summary>
    public const string Queued = "queued";

    /// <summary>Read; its slices wait in the series assembler or in inference.</summary>
    public const string Read = "read";

    /// <summary>Classified; its slice results are stored.</summary>
    public const string Done = "done";

    /// <summary>Same content or same SOP instance as a file already taken; not classified again.</summary>
    public const string Duplicate = "duplicate";

    /// <summary>A readable instance that the filters leave out (modality, plane).</summary>
    public const string Ignored = "ignored";

    /// <summary>Refused; moved to the quarantine folder (or marked in place on a read-only share).</summary>
    public const string Quarantined = "quarantined";

    /// <summary>Whether nothing more will be done with a file in <paramref name="state"/>.</summary>
    public static bool IsTerminal(string state) => state is Done or Duplicate or Ignored or Quarantined;
}

/// <summary>States of a model package in the <c>models</c> table.</summary>
public static class ModelStates
{
    /// <summary>Validated, warmed up and serving (or served until a newer one came).</summary>
    public const string Loaded = "loaded";

    /// <summary>Refused at load; the reason says why. Remembered by content hash across restarts.</summary>
    public const string Refused = "refused";

    /// <summary>
    /// Refused by this device's settings (EdgeMed:Precision, EdgeMed:ExpectedClasses), not for a fault of its own:
    /// looked at again at the next start, when the settings may have changed.
    /// </summary>
    public const string NotForThisDevice = "not-for-this-device";

    /// <summary>Being validated and warmed up. Found so at a start, the agent died while loading it: refused.</summary>
    public const string Loading = "loading";
}

/// <summary>States of a result object in the outbox (table <c>outbox</c>).</summary>
public static class OutboxStates
{
    /// <summary>Recorded with its series' result; waiting to be delivered (or delivered again after a failure).</summary>
    public const string Pending = "pending";

    /// <summary>Delivered to its destination.</summary>
    public const string Sent = "sent";

    /// <summary>The series was stored again (a late part) before this version was sent; the newer version goes instead.</summary>
    public const string Superseded = "superseded";
}

/// <summary>Kinds of result object a destination receives (setting <c>EdgeMed:Destinations:N:Objects</c>).</summary>
public static class OutboxObjects
{
    /// <summary>The series' FHIR R4 Bundle (DiagnosticReport, Observation, Device) as JSON.</summary>
    public const string FhirBundle = "fhir-bundle";

    /// <summary>The series' DICOM Comprehensive SR (a PS3.10 file), filed under the source's patient and study.</summary>
    public const string DicomSr = "dicom-sr";

    /// <summary>The series' heatmaps as a DICOM Secondary Capture series (needs <c>EdgeMed:HeatmapSlices</c> &gt; 0).</summary>
    public const string DicomSc = "dicom-sc";

    /// <summary>Every kind this build can deliver.</summary>
    public static readonly IReadOnlyList<string> All = [FhirBundle, DicomSr, DicomSc];
}

/// <summary>
/// The agent's reason codes of a file's state (the decoder's own, such as <c>not-dicom</c>, come from DicomIngest's
/// <c>ReasonCodes</c>). Stored as text; scripts and the CLI filter on them.
/// </summary>
public static class FileReasons
{
    /// <summary>Same bytes as a file already taken.</summary>
    public const string SameContent = "same-content";

    /// <summary>Same SOP Instance UID as a file already read.</summary>
    public const string SopInstanceSeen = "sop-instance-seen";

    /// <summary>Put back in the queue by <c>agent quarantine retry</c>.</summary>
    public const string Retry = "retry";

    /// <summary>The file disappeared between the scan and the read; it is looked for again.</summary>
    public const string Vanished = "vanished";

    /// <summary>Inference or storage of its series failed; read again.</summary>
    public const string SeriesFailed = "series-failed";

    /// <summary>The agent died while working on it, more often than allowed.</summary>
    public const string AgentCrashed = "agent-crashed";

    /// <summary>The instance has no Series Instance UID.</summary>
    public const string MissingSeriesUid = "missing-series-uid";

    /// <summary>Its modality is not among the configured ones.</summary>
    public const string ModalityFiltered = "modality-filtered";

    /// <summary>It has no slice in the configured planes.</summary>
    public const string PlaneFiltered = "plane-filtered";

    /// <summary>
    /// It ends early or lacks its pixels, as a file still being written does: read again when it changes or after a
    /// pause, and quarantined only when it stays so for EdgeMed:IncompleteFileWindow.
    /// </summary>
    public const string Incomplete = "incomplete";

    /// <summary>
    /// The agent's account may not read the file (EACCES/EPERM: the scanner wrote it 0600, or the share's ACL): reported
    /// once, read again after a pause (as incomplete files are) until someone fixes the permission; never quarantined.
    /// </summary>
    public const string PermissionDenied = "permission-denied";

    /// <summary>
    /// Reading the file failed with an I/O error while it is still listed (a network share gone stale, a failing
    /// disk): reported once, read again after a pause until it reads; never quarantined, since the file is not at fault.
    /// </summary>
    public const string ReadError = "read-error";

    /// <summary>A newer version of the same file (same path, other size or time) arrived before this one was read.</summary>
    public const string Superseded = "superseded";

    /// <summary>
    /// The model returned NaN or infinite scores for the file's series: recorded as the series' error, the file left in
    /// place (quarantined without moving), so <c>agent quarantine retry</c> runs it again after a model update.
    /// </summary>
    public const string ModelOutputNotFinite = "model-output-not-finite";

    /// <summary>The agent died classifying the file's series as often as EdgeMed:MaxInferenceCrashes allows in one boot.</summary>
    public const string InferenceCrashed = "inference-crashed";

    /// <summary>The instance has no SOP Instance UID, so duplicates of it cannot be told apart.</summary>
    public const string MissingSopInstanceUid = "missing-sop-instance-uid";

    /// <summary>A symbolic link on the share: never followed (it could lead out of the share or into a loop).</summary>
    public const string SymbolicLink = "symbolic-link";

    /// <summary>A named pipe on the share: never opened (reading one blocks until a writer comes).</summary>
    public const string Fifo = "fifo";

    /// <summary>A Unix socket on the share.</summary>
    public const string Socket = "socket";

    /// <summary>A device node on the share.</summary>
    public const string Device = "device";
}

/// <summary>One version (path, size, modification time) of a file in the ledger.</summary>
/// <param name="Id">Row id.</param>
/// <param name="Path">Full path where it was seen.</param>
/// <param name="Size">Size in bytes.</param>
/// <param name="ModifiedMs">Modification time, Unix milliseconds.</param>
/// <param name="Sha256">Content hash, once read.</param>
/// <param name="SopInstanceUid">SOP instance UID, once read.</param>
/// <param name="SeriesInstanceUid">Series instance UID, once read.</param>
/// <param name="State">One of <see cref="FileStates"/>.</param>
/// <param name="Attempts">Work started on it and not finished (a crash leaves it counted).</param>
/// <param name="Reason">Stable reason code for duplicate, ignored and quarantined files.</param>
/// <param name="Detail">Human-readable detail of the reason.</param>
/// <param name="QuarantinePath">Where it was moved, when quarantined by moving.</param>
/// <param name="UpdatedAt">Last change, ISO 8601 UTC.</param>
/// <param name="FirstSeen">When this version was first registered, ISO 8601 UTC.</param>
public sealed record FileRecord(
    long Id, string Path, long Size, long ModifiedMs, string? Sha256, string? SopInstanceUid, string? SeriesInstanceUid,
    string State, int Attempts, string? Reason, string? Detail, string? QuarantinePath, string UpdatedAt, string FirstSeen);

/// <summary>A model package as the registry knows it.</summary>
/// <param name="State">One of <see cref="ModelStates"/>.</param>
/// <param name="Reason">Why refused.</param>
/// <param name="FirstSeen">When this content in this folder was first seen, ISO 8601 UTC.</param>
public sealed record ModelRecord(string State, string? Reason, string FirstSeen);

/// <summary>The model that produced a result.</summary>
/// <param name="Name">Package name.</param>
/// <param name="Version">Package version (its creation time).</param>
/// <param name="Sha256">SHA-256 of model.onnx.</param>
/// <param name="PreprocessingVersion">The slice normalizer's algorithm version the package was made for.</param>
public sealed record ModelIdentity(string Name, string Version, string Sha256, string PreprocessingVersion);

/// <summary>One classified slice, as stored.</summary>
/// <param name="FileId">The file it came from.</param>
/// <param name="SopInstanceUid">Its instance.</param>
/// <param name="Frame">Frame index in the instance.</param>
/// <param name="Tile">Mosaic tile index, or -1.</param>
/// <param name="Position">Position along the slice normal, mm, when known.</param>
/// <param name="Probabilities">Softmax probabilities, in the model's class order.</param>
/// <param name="PredictedClass">Class with the highest probability.</param>
/// <param name="MaxProbability">That probability.</param>
/// <param name="Entropy">Entropy of the probabilities, nats.</param>
/// <param name="ModelSha256">The model that produced it.</param>
public sealed record SliceResult(
    long FileId, string SopInstanceUid, int Frame, int Tile, double? Position, IReadOnlyDictionary<string, double> Probabilities,
    string PredictedClass, double MaxProbability, double Entropy, string ModelSha256);

/// <summary>The result of one series, computed from all of its stored slices.</summary>
/// <param name="SeriesInstanceUid">Series.</param>
/// <param name="SliceCount">Slices averaged.</param>
/// <param name="Probabilities">Mean probabilities over the slices.</param>
/// <param name="PredictedClass">Class with the highest mean probability.</param>
/// <param name="MaxProbability">That mean probability.</param>
/// <param name="Entropy">Entropy of the mean probabilities, nats.</param>
/// <param name="BestSlice">The slice most confident of the predicted class.</param>
/// <param name="LowConfidence">The top probability or the entropy is past its threshold.</param>
/// <param name="QualityFlags">Input quality flags, comma-separated (few-slices, gaps, duplicate-positions, mixed-models); empty when none.</param>
public sealed record SeriesSummary(
    string SeriesInstanceUid, int SliceCount, IReadOnlyDictionary<string, double> Probabilities, string PredictedClass,
    double MaxProbability, double Entropy, SliceResult BestSlice, bool LowConfidence, string QualityFlags);

/// <summary>What the classifier stores for one completed series (or a late part of one).</summary>
/// <param name="SeriesInstanceUid">Series.</param>
/// <param name="StudyInstanceUid">Study.</param>
/// <param name="Modality">Modality.</param>
/// <param name="Description">Series description (not identifying).</param>
/// <param name="FileIds">The files whose slices these are; they become <see cref="FileStates.Done"/>.</param>
/// <param name="Slices">The slice results.</param>
/// <param name="Model">The model.</param>
/// <param name="ReadMs">Time spent reading and decoding the files.</param>
/// <param name="NormalizeMs">Time spent normalizing.</param>
/// <param name="InferenceMs">Time spent in ONNX Runtime.</param>
/// <param name="LatencyMs">From the first file's arrival to the result (includes the quiet period).</param>
/// <param name="SopClasses">SOP class UID of each SOP instance in <paramref name="Slices"/> (what an SR references).</param>
/// <param name="SourceModule">The first instance's patient and study elements, encoded (<c>InstanceMetadata.SourceModule</c>).</param>
/// <param name="Heatmaps">Heatmaps written for this part, all of one class: they join the series' earlier ones of that class (others go).</param>
/// <param name="KeepHeatmaps">How many of the series' heatmaps stay: the most confident.</param>
public sealed record SeriesBatch(
    string SeriesInstanceUid, string? StudyInstanceUid, string? Modality, string? Description, IReadOnlyList<long> FileIds,
    IReadOnlyList<SliceResult> Slices, ModelIdentity Model, double ReadMs, double NormalizeMs, double InferenceMs, double LatencyMs,
    IReadOnlyDictionary<string, string>? SopClasses = null, byte[]? SourceModule = null, IReadOnlyList<HeatmapRecord>? Heatmaps = null, int KeepHeatmaps = 0);

/// <summary>A heatmap written for a slice of the series.</summary>
/// <param name="SopInstanceUid">Instance.</param>
/// <param name="Frame">Frame.</param>
/// <param name="Tile">Mosaic tile.</param>
/// <param name="Class">The class the map is of: the series class, over its stored slices and this part, when it was made.</param>
/// <param name="Probability">The slice's probability of that class.</param>
/// <param name="Path">PNG path relative to <c>EdgeMed:Heatmaps</c>.</param>
public sealed record HeatmapRecord(string SopInstanceUid, int Frame, int Tile, string Class, double Probability, string Path);

/// <summary>A stored series as the outbox renders it: its row, and what a DICOM SR copies and references.</summary>
/// <param name="Row">The <c>series</c> row as <see cref="ResultStore.SeriesRows"/> gives it.</param>
/// <param name="SourceModule">The source's patient and study elements, encoded (empty: the source had none); null when unknown (stored before schema 5).</param>
/// <param name="Instances">The SOP instances classified (SOP class, SOP instance, whether several of its frames were), in position order; the class is null when unknown.</param>
/// <param name="Installation">The database's random id (table <c>installation</c>), part of the SR's UIDs.</param>
/// <param name="Heatmaps">Its heatmaps (paths relative to <c>EdgeMed:Heatmaps</c>).</param>
public sealed record StoredSeries(IReadOnlyDictionary<string, object?> Row, byte[]? SourceModule, IReadOnlyList<(string? SopClassUid, string SopInstanceUid, bool MultiFrame)> Instances, string Installation, IReadOnlyList<HeatmapRecord> Heatmaps);
