using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.Onnx.Runtime;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>Each rule of <see cref="AgentOptionsValidator"/> on its own: the defaults pass, one bad value fails naming its setting.</summary>
public sealed class AgentOptionsValidatorTests
{
    private static readonly Dictionary<string, Action<AgentOptions>> Breaks = new()
    {
        ["EdgeMed:ShareMarker"] = o => o.ShareMarker = "../elsewhere",
        ["EdgeMed:ScanInterval"] = o => o.ScanInterval = TimeSpan.Zero,
        ["EdgeMed:SettleTime"] = o => o.SettleTime = TimeSpan.FromSeconds(-1),
        ["EdgeMed:SeriesQuietPeriod"] = o => o.SeriesQuietPeriod = TimeSpan.FromSeconds(-1),
        ["EdgeMed:ModelScanInterval"] = o => o.ModelScanInterval = TimeSpan.Zero,
        ["EdgeMed:MaxAttempts"] = o => o.MaxAttempts = 0,
        ["EdgeMed:MaxInferenceCrashes"] = o => o.MaxInferenceCrashes = 0,
        ["EdgeMed:IncompleteFileWindow"] = o => o.IncompleteFileWindow = TimeSpan.FromSeconds(-1),
        ["EdgeMed:DatabaseBusyTimeout"] = o => o.DatabaseBusyTimeout = TimeSpan.FromMilliseconds(500),
        ["EdgeMed:StallTimeout"] = o => o.StallTimeout = TimeSpan.FromMinutes(2), // shorter than the 5 min database patience
        ["EdgeMed:StallTimeout must be longer"] = o => (o.DatabaseBusyTimeout, o.Dicom.DecodeTimeout, o.StallTimeout) = (TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(3)),
        ["EdgeMed:MaxBufferedMegabytes"] = o => o.MaxBufferedMegabytes = 0,
        ["EdgeMed:BatchSize"] = o => o.BatchSize = 257,
        ["EdgeMed:IntraOpThreads"] = o => o.IntraOpThreads = -1,
        ["EdgeMed:ExecutionProvider"] = o => o.ExecutionProvider = (ExecutionProvider)7,
        ["EdgeMed:Precision"] = o => o.Precision = "int4",
        ["EdgeMed:MinConfidence"] = o => o.MinConfidence = 1.5,
        ["EdgeMed:MaxNormalizedEntropy"] = o => o.MaxNormalizedEntropy = -0.1,
        ["EdgeMed:MinSeriesSlices"] = o => o.MinSeriesSlices = -1,
        ["EdgeMed:MinFreeDiskMegabytes"] = o => o.MinFreeDiskMegabytes = -1,
        ["EdgeMed:Modalities"] = o => o.Modalities = [" "],
        ["EdgeMed:Planes has 'Diagonal'"] = o => o.Planes = ["Diagonal"],
        ["EdgeMed:ExpectedClasses"] = o => o.ExpectedClasses = ["a", "a"],
        ["EdgeMed:Dicom:MaxPixels"] = o => o.Dicom.MaxPixels = 0,
        ["EdgeMed:Dicom:MaxFileMegabytes must be at most 2047"] = o => o.Dicom.MaxFileMegabytes = 4096,
        ["EdgeMed:Dicom:DecodeTimeout"] = o => o.Dicom.DecodeTimeout = TimeSpan.Zero,
        ["EdgeMed:Dicom:PlaneToleranceDegrees"] = o => o.Dicom.PlaneToleranceDegrees = 60,
        ["EdgeMed:Dicom:PatientKeySalt must not be empty"] = o => o.Dicom.PatientKeySalt = string.Empty,
        ["EdgeMed:Dicom:PatientKeySalt is still the template's placeholder"] = o => o.Dicom.PatientKeySalt = "CHANGE-ME-one-secret-per-installation",
        ["EdgeMed:Lights: two lights share one pin"] = o => (o.Lights.ReadyPin, o.Lights.BusyPin) = (17, 17),
        ["EdgeMed:Lights:AlertHold"] = o => o.Lights.AlertHold = TimeSpan.FromSeconds(-1),
        ["EdgeMed:Quarantine must not be inside the share"] = o => (o.Share, o.Quarantine) = ("/mnt/scanner", "/mnt/scanner/quarantine"),
        ["EdgeMed:Database must not be inside the share"] = o => (o.Share, o.Database) = ("/mnt/scanner/", "/mnt/scanner/sub/edgemed.db"),
        ["EdgeMed:Models must not be inside the share"] = o => (o.Share, o.Models) = ("/mnt/scanner", "/mnt/scanner/models"),
        ["EdgeMed:SendRetryLimit"] = o => o.SendRetryLimit = TimeSpan.FromSeconds(1),
        ["EdgeMed:Destinations: two destinations share one name"] = o => o.Destinations = [Destination(), Destination(folder: "/srv/other")],
        ["EdgeMed:Destinations:0:Name"] = o => o.Destinations = [Destination(name: "records inbox")],
        ["EdgeMed:Destinations:0:Kind"] = o => o.Destinations = [Destination(kind: "ftp")],
        ["EdgeMed:Destinations:0:Folder must be an absolute path"] = o => o.Destinations = [Destination(folder: "records")],
        ["EdgeMed:Destinations:0:Objects has 'pdf'"] = o => o.Destinations = [Destination(objects: ["fhir-bundle", "pdf"])],
        ["EdgeMed:Destinations:0:Url"] = o => o.Destinations = [new DestinationOptions { Name = "records", Kind = "fhir", Url = "ftp://records/fhir" }],
        ["EdgeMed:Destinations:0:Objects has 'dicom-sr'; a fhir destination takes fhir-bundle"] = o => o.Destinations = [new DestinationOptions { Name = "records", Kind = "fhir", Url = "https://records/fhir", Objects = ["dicom-sr"] }],
        ["EdgeMed:Destinations:0:Objects has 'dicom-sc', which needs heatmaps"] = o => o.Destinations = [Pacs(p => p.Objects = ["dicom-sr", "dicom-sc"])],
        ["EdgeMed:HeatmapSlices"] = o => o.HeatmapSlices = 65,
        ["EdgeMed:Destinations:0:Host"] = o => o.Destinations = [Pacs(p => p.Host = "-c")],
        ["EdgeMed:Destinations:0:Port"] = o => o.Destinations = [Pacs(p => p.Port = 70000)],
        ["EdgeMed:Destinations:0:AeTitle"] = o => o.Destinations = [Pacs(p => p.AeTitle = "PACS-OF-THE-CLINIC")],
        ["EdgeMed:Destinations:0:CallingAeTitle"] = o => o.Destinations = [Pacs(p => p.CallingAeTitle = "   ")],
        ["EdgeMed:Destinations:0:AeTitle must be the PACS's AE title: 1–16 characters, no backslash or control characters, not only spaces, not starting with '-'"] = o => o.Destinations = [Pacs(p => p.AeTitle = "-aec")],
        ["EdgeMed:Destinations:0:Folder must not be inside the share"] = o => (o.Share, o.Destinations) = ("/mnt/scanner", [Destination(folder: "/mnt/scanner/results")]),
    };

    private static DestinationOptions Destination(string name = "records", string kind = "folder", string folder = "/srv/records-inbox", IList<string>? objects = null) =>
        new() { Name = name, Kind = kind, Folder = folder, Objects = objects ?? ["fhir-bundle"] };

    private static DestinationOptions Pacs(Action<DestinationOptions> change)
    {
        var pacs = new DestinationOptions { Name = "pacs", Kind = "dicom", Host = "pacs.clinic.local", Port = 11112, AeTitle = "PACS", Objects = ["dicom-sr"] };
        change(pacs);
        return pacs;
    }

    public static TheoryData<string> Rules => [.. Breaks.Keys];

    private static AgentOptions Defaults()
    {
        var options = new AgentOptions();
        options.ApplyDefaults(underSystemd: false);
        return options;
    }

    [Fact]
    public void Defaults_Pass_AndASiblingOfTheShareIsNotInsideIt()
    {
        Assert.True(new AgentOptionsValidator().Validate(null, Defaults()).Succeeded);
        var routed = Defaults();
        routed.Destinations = [Destination(), Destination(name: "archive-2", folder: "/srv/archive"), new DestinationOptions { Name = "fhir", Kind = "fhir", Url = "https://records.clinic.local/fhir" }, Pacs(_ => { }),
            Destination(name: "pacs-import", folder: "/srv/pacs-import", objects: ["dicom-sr", "fhir-bundle"])];
        Assert.True(new AgentOptionsValidator().Validate(null, routed).Succeeded);
        var sibling = Defaults();
        (sibling.Share, sibling.Quarantine, sibling.Database) = ("/mnt/scanner", "/mnt/scanner-quarantine", "/mnt/scanner2/edgemed.db");
        Assert.True(new AgentOptionsValidator().Validate(null, sibling).Succeeded);
    }

    [Theory]
    [MemberData(nameof(Rules))]
    public void OneBadValue_FailsNamingItsSetting(string rule)
    {
        var options = Defaults();
        Breaks[rule](options);
        var result = new AgentOptionsValidator().Validate(null, options);
        Assert.True(result.Failed, rule);
        var failure = Assert.Single(result.Failures!);
        Assert.Contains(rule, failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("int8")]
    [InlineData("fp32")]
    public void Precision_AcceptsInt8Fp32OrAny(string precision)
    {
        var options = Defaults();
        options.Precision = precision;
        Assert.True(new AgentOptionsValidator().Validate(null, options).Succeeded);
    }
}
