using EdgeMed.DicomIngest;
using EdgeMed.DicomIngest.Slices;
using EdgeMed.Onnx.Runtime;

namespace EdgeMed.EdgeAgent.Configuration;

/// <summary>
/// The agent's settings, section <c>EdgeMed</c> of <c>appsettings.json</c>, <c>/etc/edgemed/appsettings.json</c>,
/// <c>--config FILE</c> and <c>EDGEMED__</c> environment variables (later sources win; command-line options last).
/// Validated at start by <see cref="AgentOptionsValidator"/>.
/// </summary>
public sealed class AgentOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "EdgeMed";

    /// <summary>The scanner's share (a local folder, CIFS or NFS mount) watched for DICOM files.</summary>
    public string Share { get; set; } = string.Empty;

    /// <summary>Folder of model packages (the newest valid one is used), or one package. Empty: the shipped <c>./models/iconvnext-tiny-alzheimer</c> in a checkout (other packages there are not for brain MRI), or <c>/var/lib/edgemed/models</c> under systemd.</summary>
    public string Models { get; set; } = string.Empty;

    /// <summary>The SQLite database. Empty: <c>./data/edgemed.db</c>, or <c>/var/lib/edgemed/edgemed.db</c> under systemd.</summary>
    public string Database { get; set; } = string.Empty;

    /// <summary>Where refused files are moved. Empty: <c>quarantine</c> beside the database. Files on a read-only share are marked in the ledger instead.</summary>
    public string Quarantine { get; set; } = string.Empty;

    /// <summary>
    /// The share is a mount point (a CIFS or NFS mount in fstab): while nothing is mounted there (the folder is on the
    /// same file system as its parent) it is reported unavailable, not scanned as an empty share.
    /// </summary>
    public bool ShareIsMountPoint { get; set; }

    /// <summary>
    /// A file the share always holds (relative to it, e.g. <c>.edgemed-share</c>); while it is missing the share is
    /// reported unavailable. Empty: no marker.
    /// </summary>
    public string ShareMarker { get; set; } = string.Empty;

    /// <summary>Time between full recursive scans of the share; file-system events only make a scan come sooner.</summary>
    public TimeSpan ScanInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a file's size and modification time must hold still before it is read.</summary>
    public TimeSpan SettleTime { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A series is complete when no instance of it has arrived for this long.</summary>
    public TimeSpan SeriesQuietPeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Time between scans of the models folder for a newer package.</summary>
    public TimeSpan ModelScanInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Attempts on one file before it is quarantined; an attempt is recorded before the work, so crashes count.</summary>
    public int MaxAttempts { get; set; } = 2;

    /// <summary>
    /// Deaths of the agent during one series' inference, in one boot, before that series is quarantined as a unit
    /// (a power cut does not count; one out-of-memory kill or watchdog restart alone never quarantines a good series).
    /// </summary>
    public int MaxInferenceCrashes { get; set; } = 3;

    /// <summary>
    /// How long a file that ends early or lacks its pixels (as one still being written does) is read again before it
    /// is quarantined, counted from when this version of it was first seen. A file that changes meanwhile is a new
    /// version and starts afresh.
    /// </summary>
    public TimeSpan IncompleteFileWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The pause before an incomplete or unreadable (permission denied) file is read again: a tenth of
    /// EdgeMed:IncompleteFileWindow, between 1 s and 60 s (derived, not a setting).
    /// </summary>
    internal TimeSpan RereadPause => TimeSpan.FromTicks(Math.Clamp(IncompleteFileWindow.Ticks / 10, TimeSpan.TicksPerSecond, 60 * TimeSpan.TicksPerSecond));

    /// <summary>
    /// How long a database write waits out another program's lock (a technician's <c>sqlite3</c>, a backup) before the
    /// agent gives up and exits for systemd to restart it.
    /// </summary>
    public TimeSpan DatabaseBusyTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long a stage may work on one item without progress before the agent counts itself stalled: the watchdog is
    /// then no longer fed (systemd restarts the service), and the fault light and STATUS say which stage.
    /// </summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The shipped model package, relative to a checkout.</summary>
    public const string ShippedModel = "models/iconvnext-tiny-alzheimer";

    /// <summary>The modalities classified when the configuration names none.</summary>
    public static readonly IReadOnlyList<string> DefaultModalities = ["MR"];

    /// <summary>The planes classified when the configuration names none.</summary>
    public static readonly IReadOnlyList<string> DefaultPlanes = [nameof(SlicePlane.Axial)];

    /// <summary>Modalities classified (default MR); instances of others are recorded as ignored. A configured list replaces the default.</summary>
    // Empty until bound: the configuration binder appends to a pre-filled list, so ["CT"] would have meant MR and CT.
    public IList<string> Modalities { get; set; } = [];

    /// <summary>Slice planes classified (Axial, Coronal, Sagittal, Oblique; default Axial); other slices are dropped. A configured list replaces the default.</summary>
    public IList<string> Planes { get; set; } = [];

    /// <summary>ONNX Runtime profile prefix for <c>agent bench --profile</c> (internal: a profile grows with every run).</summary>
    internal string? OnnxProfilePrefix { get; set; }

    /// <summary>Where <c>agent bench --profile</c> has ONNX Runtime save the optimized graph (internal).</summary>
    internal string? OnnxOptimizedModelPath { get; set; }

    /// <summary>
    /// Decoded pixels the agent holds between reading and the end of inference, in MB (slices are 4 bytes a pixel: a
    /// 512×512 slice is 1 MB). Reading waits while it is spent; a series longer than half of it is classified in parts.
    /// </summary>
    public int MaxBufferedMegabytes { get; set; } = 256;

    /// <summary>Slices per inference call.</summary>
    public int BatchSize { get; set; } = 8;

    /// <summary>ONNX Runtime intra-op threads; 0 lets ONNX Runtime use one per core.</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>Where inference runs: Cpu, Cuda or TensorRt. A GPU provider the installed ONNX Runtime lacks falls back to the CPU, with one warning per model load.</summary>
    public ExecutionProvider ExecutionProvider { get; set; } = ExecutionProvider.Cpu;

    /// <summary>Only model packages of this precision are loaded (<c>int8</c> or <c>fp32</c>); empty: any. A CPU without int8 dot-product instructions (Raspberry Pi 4) may run fp32 as fast.</summary>
    public string Precision { get; set; } = string.Empty;

    /// <summary>Let ONNX Runtime's threads spin between runs: a little faster, but burns CPU while the agent waits for files.</summary>
    public bool AllowSpinning { get; set; }

    /// <summary>Keep ONNX Runtime's memory arena between runs (faster; an idle agent then holds its peak activation memory).</summary>
    public bool UseMemoryArena { get; set; } = true;

    /// <summary>Keep weights pre-packed for the matrix kernels (faster); off, the agent holds less memory (docs/PERFORMANCE.md, memory).</summary>
    public bool PrepackWeights { get; set; } = true;

    /// <summary>A series (or slice) whose top probability is below this is flagged low-confidence.</summary>
    public double MinConfidence { get; set; } = 0.6;

    /// <summary>A series (or slice) whose entropy, divided by ln(classes), is above this is flagged low-confidence.</summary>
    public double MaxNormalizedEntropy { get; set; } = 0.8;

    /// <summary>Series with fewer axial slices are flagged <c>few-slices</c>.</summary>
    public int MinSeriesSlices { get; set; } = 5;

    /// <summary>
    /// Heatmaps per stored series part: PNG overlays of the class activation map on the slices most confident of the
    /// series class (an IConvNeXt model only; 0: none). Each costs one more inference of its slice.
    /// </summary>
    public int HeatmapSlices { get; set; }

    /// <summary>Where heatmap PNGs are written (default: <c>heatmaps</c> beside the database; owner-only: they show patient images).</summary>
    public string Heatmaps { get; set; } = string.Empty;

    /// <summary>Intake pauses while the database's file system has less free space than this.</summary>
    public long MinFreeDiskMegabytes { get; set; } = 512;

    /// <summary>When set, a model package must have exactly these classes, in this order.</summary>
    public IList<string> ExpectedClasses { get; set; } = [];

    /// <summary>Stop once every file on the share is finished (the demo and batch jobs; a service keeps watching).</summary>
    public bool StopWhenIdle { get; set; }

    /// <summary>DICOM reading.</summary>
    public DicomSettings Dicom { get; set; } = new();

    /// <summary>Status lights.</summary>
    public LightOptions Lights { get; set; } = new();

    /// <summary>Where each series' result objects are sent (none by default: results stay in the database).</summary>
    public IList<DestinationOptions> Destinations { get; set; } = [];

    /// <summary>
    /// The longest pause between attempts to deliver to a destination that is down: pauses start at 2 s and double up
    /// to this. Objects wait in the outbox, across restarts, for as long as it takes.
    /// </summary>
    public TimeSpan SendRetryLimit { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The DicomIngest options these settings stand for.</summary>
    public DicomIngestOptions ToIngestOptions()
    {
        var accepted = new HashSet<string>(SopClasses.DefaultAccepted, StringComparer.Ordinal);
        accepted.UnionWith(Dicom.ExtraSopClasses);
        return new DicomIngestOptions
        {
            AcceptedSopClasses = accepted,
            MaxPixels = Dicom.MaxPixels,
            MaxFileBytes = Dicom.MaxFileMegabytes * 1024 * 1024,
            PatientKeySalt = Dicom.PatientKeySalt,
            PlaneToleranceDegrees = Dicom.PlaneToleranceDegrees,
            DecodeTimeout = Dicom.DecodeTimeout,
            ConvertColorToLuminance = Dicom.ConvertColorToLuminance,
        };
    }

    /// <summary>Fills empty lists with their defaults, and empty paths with those of a checkout (relative to the working folder) or of a systemd service.</summary>
    public void ApplyDefaults(bool underSystemd)
    {
        if (Modalities.Count == 0)
        {
            Modalities = [.. DefaultModalities];
        }

        if (Planes.Count == 0)
        {
            Planes = [.. DefaultPlanes];
        }

        foreach (var destination in Destinations.Where(d => d.Objects.Count == 0))
        {
            destination.Objects = [.. destination.Takes];
        }

        var root = underSystemd ? "/var/lib/edgemed" : Path.GetFullPath("data");
        if (string.IsNullOrWhiteSpace(Database))
        {
            Database = Path.Combine(root, "edgemed.db");
        }

        if (string.IsNullOrWhiteSpace(Models))
        {
            Models = underSystemd ? Path.Combine(root, "models") : Path.GetFullPath(ShippedModel);
        }

        if (string.IsNullOrWhiteSpace(Heatmaps))
        {
            Heatmaps = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(Database)) ?? root, "heatmaps");
        }

        if (string.IsNullOrWhiteSpace(Quarantine))
        {
            Quarantine = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(Database)) ?? root, "quarantine");
        }
    }
}

/// <summary>DICOM reading settings.</summary>
public sealed class DicomSettings
{
    /// <summary>How the device templates' placeholder salt begins; the validator refuses it.</summary>
    public const string PlaceholderSalt = "CHANGE-ME";

    /// <summary>Image SOP classes accepted besides MR, enhanced MR and secondary capture.</summary>
    public IList<string> ExtraSopClasses { get; set; } = [];

    /// <summary>Largest image in samples (rows × columns × frames × samples per pixel).</summary>
    public long MaxPixels { get; set; } = 256L * 1024 * 1024;

    /// <summary>Largest file read.</summary>
    public long MaxFileMegabytes { get; set; } = 1024;

    /// <summary>Angle tolerance for calling a slice axial; see <see cref="DicomIngestOptions.PlaneToleranceDegrees"/>.</summary>
    public double PlaneToleranceDegrees { get; set; } = 25;

    /// <summary>How long one decode may take before the decoder process is killed.</summary>
    public TimeSpan DecodeTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Secret salt of the Patient ID hash; set one per installation.</summary>
    public string PatientKeySalt { get; set; } = "edgemed";

    /// <summary>Convert color images to luminance instead of refusing them.</summary>
    public bool ConvertColorToLuminance { get; set; }
}

/// <summary>
/// One destination of result objects (<c>EdgeMed:Destinations:N</c>). Kind <c>folder</c>: each object is written as a
/// file into <see cref="Folder"/> (a record system's import folder, a mounted share), under a name derived from its
/// series, so a resend replaces the file with the same bytes instead of adding one. Kind <c>fhir</c>: each report is
/// POSTed to the FHIR server at <see cref="Url"/> as a transaction that PUTs every resource to its own id. Kind
/// <c>dicom</c>: each SR is sent with C-STORE to the PACS at <see cref="Host"/>:<see cref="Port"/>, AE title
/// <see cref="AeTitle"/>.
/// </summary>
public sealed class DestinationOptions
{
    /// <summary>The kind a destination has when none is set.</summary>
    public const string FolderKind = "folder";

    /// <summary>A FHIR R4 server's base URL.</summary>
    public const string FhirKind = "fhir";

    /// <summary>A DICOM storage SCP (a PACS), through DCMTK's storescu.</summary>
    public const string DicomKind = "dicom";

    /// <summary>Destination kinds this build can deliver to.</summary>
    public static readonly IReadOnlyList<string> Kinds = [FolderKind, FhirKind, DicomKind];

    /// <summary>Short name (letters, digits, '-'), shown by <c>agent outbox list</c> and in the log.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>Destination kind: <c>folder</c> or <c>fhir</c>.</summary>
    public string Kind { get; set; } = FolderKind;

    /// <summary>Kind folder: an existing folder the agent may write (it is not created: on a mount point that would write to the local disk).</summary>
    public string Folder { get; set; } = string.Empty;

    /// <summary>
    /// Kind folder: the folder is a mount point (a CIFS or NFS share in fstab); while nothing is mounted there (it is
    /// on its parent's file system) delivery waits instead of writing under the mount point.
    /// </summary>
    public bool MountPoint { get; set; }

    /// <summary>Kind fhir: the server's base URL (http or https), e.g. <c>https://records.clinic.local/fhir</c>.</summary>
    public string Url { get; set; } = string.Empty;

    /// <summary>Kind dicom: the PACS's host name or address.</summary>
    public string Host { get; set; } = string.Empty;

    /// <summary>Kind dicom: the PACS's DICOM port.</summary>
    public int Port { get; set; } = 104;

    /// <summary>Kind dicom: the PACS's AE title (the called AE title).</summary>
    public string AeTitle { get; set; } = string.Empty;

    /// <summary>Kind dicom: the agent's own AE title (the calling AE title the PACS must know).</summary>
    public string CallingAeTitle { get; set; } = "EDGEMED";

    /// <summary>
    /// Objects sent there (default: what the kind takes by default: <c>fhir-bundle</c> for folder and fhir,
    /// <c>dicom-sr</c> for dicom; folder and dicom take <c>dicom-sc</c>, and a folder <c>dicom-sr</c>, when listed).
    /// </summary>
    public IList<string> Objects { get; set; } = [];

    /// <summary>The objects this kind of destination can take.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string> Accepts => Kind switch
    {
        FolderKind => Ledger.OutboxObjects.All,
        FhirKind => [Ledger.OutboxObjects.FhirBundle],
        DicomKind => [Ledger.OutboxObjects.DicomSr, Ledger.OutboxObjects.DicomSc],
        _ => [],
    };

    /// <summary>The objects it gets when <see cref="Objects"/> is not set.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string> Takes => Kind == DicomKind ? [Ledger.OutboxObjects.DicomSr] : [Ledger.OutboxObjects.FhirBundle];
}

/// <summary>Status lights on GPIO lines through libgpiod. A pin of -1 is not wired.</summary>
public sealed class LightOptions
{
    /// <summary>The GPIO chip: <c>gpiochip0</c>, <c>/dev/gpiochip0</c> or <c>0</c>; when it does not exist the lights do nothing.</summary>
    public string Chip { get; set; } = "gpiochip0";

    /// <summary>Lines are lit by a low level.</summary>
    public bool ActiveLow { get; set; }

    /// <summary>Steady while the agent is ready.</summary>
    public int ReadyPin { get; set; } = -1;

    /// <summary>Blinks while inferring.</summary>
    public int BusyPin { get; set; } = -1;

    /// <summary>On after a series was flagged, for <see cref="AlertHold"/>.</summary>
    public int AlertPin { get; set; } = -1;

    /// <summary>On while something needs a technician (no model, share unavailable, disk low, storage error).</summary>
    public int FaultPin { get; set; } = -1;

    /// <summary>How long the alert light stays on after a flagged series.</summary>
    public TimeSpan AlertHold { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Whether any light is wired.</summary>
    public bool AnyWired => ReadyPin >= 0 || BusyPin >= 0 || AlertPin >= 0 || FaultPin >= 0;
}
