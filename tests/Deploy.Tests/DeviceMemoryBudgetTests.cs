using System.Globalization;
using System.Text.Json;

namespace EdgeMed.Deploy.Tests;

/// <summary>
/// Issue 12, item 8: each device template's limits fit inside its unit's MemoryMax. Budget, in MB: the agent at rest
/// with the int8 model (340, measured on the Pi settings), plus the decoded pixels in flight
/// (EdgeMed:MaxBufferedMegabytes), plus the largest file in the agent (read once, into memory), plus the decoder
/// process's peak: the file's bytes in its memory file while GDCM reads them into its own data set (2 × file), or
/// that data set and the decoded image at 16 bits (the memory file is emptied in between), plus the decoded image
/// once more (the one file the buffered budget may overshoot by). Not counted: GDCM's JPEG-family codecs hold up to
/// two more copies of the image while they decode (a stream, then a value), so a compressed image at MaxPixels can
/// overshoot; the templates' MaxPixels leave no room for that yet. The defaults (1 GB files, 256 Mpx images) fit none
/// of the devices: each template sets its own.
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

        var imageMb = pixels * 2 / (1 << 20);
        var budget = 340 + buffered + fileMb + Math.Max(2 * fileMb, fileMb + imageMb) + imageMb;
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
