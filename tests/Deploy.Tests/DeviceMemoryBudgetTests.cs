using System.Globalization;
using System.Text.Json;

namespace EdgeMed.Deploy.Tests;

/// <summary>
/// Issue 12, item 8: each device template's limits fit inside its unit's MemoryMax. Budget, in MB: the agent at rest
/// with the int8 model and 256 buffered slices (340, measured on the Pi settings; about 0.5 MB more per further
/// buffered 512×512 slice), plus the largest file twice (the agent reads its header, the decoder process reads it
/// again) and the largest decoded image twice at 16 bits (in the decoder, then copied into the agent). The defaults
/// (1 GB files, 256 Mpx images) fit none of the devices: each template sets its own.
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
        var buffered = edgemed.TryGetProperty("MaxBufferedSlices", out var b) ? b.GetInt32() : 512;

        var budget = 340 + (Math.Max(0, buffered - 256) * 0.5) + (2 * fileMb) + (2 * pixels * 2 / (1 << 20));
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
