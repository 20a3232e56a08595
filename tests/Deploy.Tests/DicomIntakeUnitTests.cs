namespace EdgeMed.Deploy.Tests;

/// <summary>The optional DICOM network intake unit (issue 15, item 5) is a unit systemd accepts.</summary>
public sealed class DicomIntakeUnitTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("edgemed-intake-unit-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void IntakeUnit_PassesSystemdVerify()
    {
        // Its program path moved to the repository's script (verify checks that it exists and is executable).
        var unit = Path.Combine(_folder, "edgemed-dicom-intake.service");
        var text = File.ReadAllText(Path.Combine(ReleaseFixture.Repository, "deploy", "edgemed-dicom-intake.service"));
        Assert.Contains("ExecStart=/opt/edgemed/current/dicom-intake.sh ", text, StringComparison.Ordinal);
        File.WriteAllText(unit, text.Replace("ExecStart=/opt/edgemed/current/", "ExecStart=" + Path.Combine(ReleaseFixture.Repository, "deploy") + "/", StringComparison.Ordinal));

        var (code, output) = ReleaseFixture.Run("systemd-analyze", ["verify", unit], TimeSpan.FromMinutes(1));
        Assert.True(code == 0 && !output.Contains("edgemed", StringComparison.Ordinal), output);
    }
}
