using System.Globalization;
using System.Text.Json;

namespace EdgeMed.Deploy.Tests;

/// <summary>
/// Issue 12, item 8: each device template's limits fit inside its unit's MemoryMax. Budget, in MB: the agent at rest
/// with the int8 model (340, measured on the Pi settings), plus the decoded pixels in flight
/// (EdgeMed:MaxBufferedMegabytes), plus the largest file twice (the agent reads its header, the decoder process reads
/// it again) and the largest decoded image twice at 16 bits (in the decoder, then the one file the budget may overshoot
/// by). The defaults (1 GB files, 256 Mpx images) fit none of the devices: each template sets its own.
/// </summary>
public sealed class DeviceMemoryBudgetTests
{
    [Theory]
    [InlineData("raspberrypi")]
    [InlineData("jetson")]
    [InlineData("pc")]
    public void TemplateLimits_FitInsideTheUnitsMemoryMax(string device)
    {
        var folder = Path.Combine(ReleaseFixture.Repository, "deploy", "devices", device);
        using var settings = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "appsettings.json")));
        var edgemed = settings.RootElement.GetProperty("EdgeMed");
        var dicom = edgemed.GetProperty("Dicom");
        var fileMb = dicom.GetProperty("MaxFileMegabytes").GetDouble();
        var pixels = dicom.GetProperty("MaxPixels").GetDouble();
        var buffered = edgemed.GetProperty("MaxBufferedMegabytes").GetInt32();

        var budget = 340 + buffered + (2 * fileMb) + (2 * pixels * 2 / (1 << 20));
        var memoryMax = MemoryMaxMb(File.ReadAllLines(Path.Combine(folder, "edgemed.conf")));
        Assert.True(budget <= memoryMax, $"{device}: {budget:F0} MB of limits inside MemoryMax={memoryMax:F0} MB");
    }

    private static double MemoryMaxMb(string[] unit)
    {
        var value = unit.Single(l => l.StartsWith("MemoryMax=", StringComparison.Ordinal))["MemoryMax=".Length..].Trim();
        var number = double.Parse(value[..^1], CultureInfo.InvariantCulture);
        return value[^1] switch { 'G' => number * 1024, 'M' => number, _ => throw new FormatException(value) };
    }
}
