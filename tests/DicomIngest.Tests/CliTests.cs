using System.Diagnostics;
using System.Text.Json;

namespace EdgeMed.DicomIngest.Tests;

/// <summary>The <c>dicom</c> CLI as a technician runs it: a real process, real files.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("edgemed-cli-").FullName;

    private static async Task<(int ExitCode, string Output, string Error)> Run(params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "EdgeMed.DicomIngest")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output, await error);
    }

    [Fact]
    public async Task Inspect_MixedInputs_OneLinePerFileWithStatusOrReason_ExitsZero()
    {
        var notes = Path.Combine(_folder, "notes.txt");
        await File.WriteAllTextAsync(notes, "not an image");
        var raw = Directory.GetFiles(Path.Combine(SharedData.Philips, "201_T1W_TSE_Sno_CSno_CSAIno"), "*_Raw.dcm").Single();

        var (exit, output, _) = await Run("inspect", Path.Combine(SharedData.TransferSyntaxes, "9.dcm"), raw, notes);

        var lines = output.TrimEnd().Split('\n');
        Assert.Equal(0, exit);
        Assert.Equal(4, lines.Length);
        Assert.Contains("jpeg2000-lossless", lines[0]);
        Assert.Contains("mosaic 35", lines[0]);
        Assert.EndsWith("ok", lines[0]);
        Assert.Contains("non-image-sop-class", lines[1]);
        Assert.Contains("not-dicom", lines[2]);
        Assert.Equal("3 files: 1 non-image-sop-class, 1 not-dicom, 1 ok", lines[3]);
    }

    [Fact]
    public async Task Inspect_MissingPath_IsAUsageErrorWithNonZeroExit()
    {
        var (exit, _, error) = await Run("inspect", Path.Combine(_folder, "nope"));

        Assert.NotEqual(0, exit);
        Assert.Contains("Not found", error);
    }

    [Fact]
    public async Task Convert_PhilipsFolder_WritesAxialPngsWithSidecarsAndASummaryOfSkippedFiles()
    {
        var output = Path.Combine(_folder, "out");

        var (exit, stdout, _) = await Run("convert", SharedData.Philips, output, "--size", "64");

        Assert.Equal(0, exit);
        var pngs = Directory.GetFiles(output, "*.png", SearchOption.AllDirectories);
        Assert.Equal(12 + 24 + 24 + 12, pngs.Length); // two 12-frame and one 24-frame enhanced files, 24 classic slices
        Assert.All(pngs, png => Assert.True(File.Exists(Path.ChangeExtension(png, ".json"))));
        using var summary = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "summary.json")));
        Assert.Equal(3, summary.RootElement.GetProperty("skipped_count").GetInt32());
        Assert.All(summary.RootElement.GetProperty("skipped").EnumerateArray(), s => Assert.Equal("non-image-sop-class", s.GetProperty("reason").GetString()));
        using var sidecar = JsonDocument.Parse(await File.ReadAllTextAsync(Path.ChangeExtension(pngs[0], ".json")));
        Assert.Equal("axial", sidecar.RootElement.GetProperty("plane").GetString());
        Assert.DoesNotContain("patient_name", sidecar.RootElement.GetRawText(), StringComparison.OrdinalIgnoreCase);
        var image = Images.PngCodec.Read(await File.ReadAllBytesAsync(pngs[0]));
        Assert.Equal((64, 64), (image.Width, image.Height));
        Assert.Contains("72 slices written", stdout);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
