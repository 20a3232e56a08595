using System.Globalization;
using System.Text.RegularExpressions;

namespace EdgeMed.Deploy.Tests;

/// <summary>
/// deploy/install.sh into a throwaway root (<c>--root</c>), as the current user (<c>--user</c>): no apt-get, no user
/// creation. Where the service must run, fake-systemctl.py starts the installed agent as systemd would (no systemd
/// runs in CI) and reports READY like <c>systemctl start</c> does.
/// </summary>
[Collection(ReleaseGroup.Name)]
public sealed partial class InstallTests(ReleaseFixture release) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("edgemed-root-").FullName;
    private readonly string _share = Directory.CreateTempSubdirectory("edgemed-share-").FullName;

    private string Opt => Path.Combine(_root, "opt", "edgemed");

    private string State => Path.Combine(_root, "var", "lib", "edgemed");

    private string Settings => Path.Combine(_root, "etc", "edgemed", "appsettings.json");

    /// <summary>More settings for the installer to read, as EDGEMED__ variables.</summary>
    private readonly Dictionary<string, string> _settings = [];

    private (int Code, string Output) Install(string releaseFolder, bool withService, params string[] extra) => Install(releaseFolder, withService, salted: true, extra);

    // salted: the settings get a salt of their own (an EDGEMED__ variable); the templates hold a placeholder.
    private (int Code, string Output) Install(string releaseFolder, bool withService, bool salted, params string[] extra)
    {
        var environment = new Dictionary<string, string>(_settings) { ["EDGEMED_TEST_ROOT"] = _root, ["EDGEMED__SHARE"] = _share };
        if (salted)
        {
            environment["EDGEMED__DICOM__PATIENTKEYSALT"] = "deploy-tests-own-salt";
        }

        if (withService)
        {
            environment["EDGEMED_SYSTEMCTL"] = Path.Combine(AppContext.BaseDirectory, "fake-systemctl.py");
        }

        string[] args = [Path.Combine(releaseFolder, "install.sh"), "--root", _root, "--user", Environment.UserName, .. extra];
        if (!withService && !extra.Contains("--rollback"))
        {
            args = [.. args, "--no-start"];
        }

        return ReleaseFixture.Run("bash", args, TimeSpan.FromMinutes(5), environment);
    }

    private string CurrentLink() => new FileInfo(Path.Combine(Opt, "current")).LinkTarget!;

    [Fact]
    public void Install_IntoRoot_LaysOutVersionLinkSettingsStateAndUnit_AndARerunKeepsEditedSettings()
    {
        var (code, output) = Install(release.Release, withService: false, "--device", "raspberrypi");
        Assert.True(code == 0, output);

        Assert.Equal(ReleaseFixture.Version, CurrentLink());
        Assert.True(File.Exists(Path.Combine(Opt, ReleaseFixture.Version, "app", "EdgeMed.EdgeAgent")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(Settings));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute, File.GetUnixFileMode(Path.GetDirectoryName(Settings)!));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(State));
        Assert.Equal(File.ReadAllText(Path.Combine(release.Release, "devices", "raspberrypi", "appsettings.json")), File.ReadAllText(Settings));
        Assert.Equal("raspberrypi", File.ReadAllText(Path.Combine(_root, "etc", "edgemed", "device")).Trim());
        Assert.Single(Directory.GetFiles(Path.Combine(State, "models"), "manifest.json", SearchOption.AllDirectories));

        var units = Path.Combine(_root, "etc", "systemd", "system");
        Assert.Equal(File.ReadAllText(Path.Combine(release.Release, "edgemed.service")), File.ReadAllText(Path.Combine(units, "edgemed.service")));
        Assert.Contains("MemoryMax=800M", File.ReadAllText(Path.Combine(units, "edgemed.service.d", "10-device.conf")), StringComparison.Ordinal);
        // The share's write access comes from the settings (here EDGEMED__SHARE), not from the unit.
        Assert.Contains("ReadWritePaths=-" + _share, File.ReadAllText(Path.Combine(units, "edgemed.service.d", "20-site.conf")), StringComparison.Ordinal);
        Assert.DoesNotContain("PrivateNetwork=no", File.ReadAllText(Path.Combine(units, "edgemed.service.d", "20-site.conf")), StringComparison.Ordinal);

        File.AppendAllText(Settings, "\n");
        var edited = File.ReadAllText(Settings);
        (code, output) = Install(Path.Combine(Opt, "current"), withService: false);
        Assert.True(code == 0, output);
        Assert.Contains("already the current version", output, StringComparison.Ordinal);
        Assert.Equal(edited, File.ReadAllText(Settings));
        Assert.Equal(ReleaseFixture.Version, CurrentLink());
    }

    [Fact]
    public void Upgrade_ThenRollback_LeavesThePreviousVersionCurrent_WithSettingsAndDatabaseUntouched()
    {
        Assert.True(Install(release.Release, withService: false, "--device", "pc") is (0, _));
        var database = Path.Combine(State, "edgemed.db");
        File.WriteAllText(database, "stands for the database: its bytes must survive upgrade and rollback");
        var settings = File.ReadAllBytes(Settings);

        var next = release.CopyAs("1.0.1-test");
        // A PACS among the destinations: the unit's drop-in opens the network it otherwise denies.
        (_settings["EDGEMED__DESTINATIONS__0__NAME"], _settings["EDGEMED__DESTINATIONS__0__KIND"]) = ("pacs", "dicom");
        (_settings["EDGEMED__DESTINATIONS__0__HOST"], _settings["EDGEMED__DESTINATIONS__0__AETITLE"]) = ("10.1.2.3", "PACS");
        var (code, output) = Install(next, withService: false);
        Assert.True(code == 0, output);
        Assert.Contains("PrivateNetwork=no", File.ReadAllText(Path.Combine(_root, "etc", "systemd", "system", "edgemed.service.d", "20-site.conf")), StringComparison.Ordinal);
        Assert.Equal("1.0.1-test", CurrentLink());
        Assert.Equal(ReleaseFixture.Version, File.ReadAllText(Path.Combine(Opt, "previous")).Trim());
        Assert.Equal(File.ReadAllBytes(database), File.ReadAllBytes(Path.Combine(State, "backups", ReleaseFixture.Version, "edgemed.db")));

        (code, output) = Install(Path.Combine(Opt, "current"), withService: false, "--rollback");
        Assert.True(code == 0, output);
        Assert.Equal(ReleaseFixture.Version, CurrentLink());
        Assert.True(Directory.Exists(Path.Combine(Opt, "1.0.1-test")), "the rolled-back version stays for a later switch");
        Assert.Equal(settings, File.ReadAllBytes(Settings));
        Assert.Equal("stands for the database: its bytes must survive upgrade and rollback", File.ReadAllText(database));
    }

    [Fact]
    public void Upgrade_ToAVersionThatNeverSendsReady_IsRolledBack_AndThePreviousVersionRunsAgain()
    {
        try
        {
            var (code, output) = Install(release.Release, withService: true, "--device", "pc");
            Assert.True(code == 0, output + File.ReadAllText(Path.Combine(_root, "service.log")));
            var firstPid = File.ReadAllText(Path.Combine(_root, "service.pid"));

            // A release whose program hangs before READY (a broken build, a missing library, a wedged start).
            var broken = release.CopyAs("1.0.2-hangs");
            File.WriteAllText(Path.Combine(broken, "app", "EdgeMed.EdgeAgent"), "#!/bin/sh\nexec sleep 600\n");
            (code, output) = Install(broken, withService: true, "--ready-timeout", "10");

            Assert.True(code == 1, output);
            Assert.Contains("rolling back to " + ReleaseFixture.Version, output, StringComparison.Ordinal);
            Assert.Equal(ReleaseFixture.Version, CurrentLink());
            var pid = int.Parse(File.ReadAllText(Path.Combine(_root, "service.pid")), CultureInfo.InvariantCulture);
            Assert.NotEqual(firstPid, pid.ToString(CultureInfo.InvariantCulture));
            Assert.Contains("EdgeMed.EdgeAgent", File.ReadAllText($"/proc/{pid}/cmdline"), StringComparison.Ordinal);
            Assert.StartsWith(Path.Combine(Opt, ReleaseFixture.Version), new FileInfo($"/proc/{pid}/exe").LinkTarget!, StringComparison.Ordinal);
            var calls = File.ReadAllLines(Path.Combine(_root, "systemctl.log"));
            Assert.Equal(["start edgemed.service", "stop edgemed.service", "start edgemed.service", "stop edgemed.service", "start edgemed.service"], calls.Where(c => c.StartsWith("st", StringComparison.Ordinal)));
        }
        finally
        {
            ReleaseFixture.Run(Path.Combine(AppContext.BaseDirectory, "fake-systemctl.py"), ["stop"], TimeSpan.FromMinutes(1), new Dictionary<string, string> { ["EDGEMED_TEST_ROOT"] = _root });
        }
    }

    [Fact]
    public void FirstInstall_WithTheTemplatesPlaceholderSalt_IsNotStarted_AndSaysWhatToSet()
    {
        var (code, output) = Install(release.Release, withService: true, salted: false, "--device", "pc");
        Assert.True(code == 0, output);
        Assert.Contains("not started yet: ", output, StringComparison.Ordinal);
        Assert.Contains("EdgeMed:Dicom:PatientKeySalt is still the template's placeholder", output, StringComparison.Ordinal);
        Assert.Equal(ReleaseFixture.Version, CurrentLink());
        Assert.DoesNotContain("start edgemed.service", File.ReadAllLines(Path.Combine(_root, "systemctl.log")));
    }

    [Fact]
    public void Install_OfAReleaseForAnotherArchitecture_IsRefusedBeforeAnythingIsWritten()
    {
        var arm = release.CopyAs("1.0.3-test", rid: "linux-arm64");
        var (code, output) = Install(arm, withService: false, "--device", "raspberrypi");
        Assert.Equal(2, code);
        Assert.Contains("this release is for linux-arm64, this machine is linux-x64", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Opt));
    }

    [Fact]
    public void Uninstall_KeepsSettingsAndData_AndPurgeRemovesThem()
    {
        Assert.True(Install(release.Release, withService: false, "--device", "pc") is (0, _));
        File.WriteAllText(Path.Combine(State, "edgemed.db"), "data");
        var (code, output) = ReleaseFixture.Run("bash", [Path.Combine(release.Release, "uninstall.sh"), "--root", _root], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, output);
        Assert.False(Directory.Exists(Opt));
        Assert.False(File.Exists(Path.Combine(_root, "etc", "systemd", "system", "edgemed.service")));
        Assert.True(File.Exists(Settings));
        Assert.True(File.Exists(Path.Combine(State, "edgemed.db")));

        (code, output) = ReleaseFixture.Run("bash", [Path.Combine(release.Release, "uninstall.sh"), "--root", _root, "--purge"], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, output);
        Assert.False(Directory.Exists(State));
        Assert.False(Directory.Exists(Path.GetDirectoryName(Settings)));
    }

    [Theory]
    [InlineData("raspberrypi")]
    [InlineData("jetson")]
    [InlineData("pc")]
    public void InstalledUnit_PassesSystemdVerify_AndItsExposureIsAtMostTwo(string device)
    {
        Assert.True(Install(release.Release, withService: false, "--device", device) is (0, _));
        // The installed unit with its drop-ins, its program path moved into the throwaway root (verify checks it).
        var check = Path.Combine(_root, "unit-check");
        Directory.CreateDirectory(Path.Combine(check, "edgemed.service.d"));
        var units = Path.Combine(_root, "etc", "systemd", "system");
        File.WriteAllText(Path.Combine(check, "edgemed.service"), File.ReadAllText(Path.Combine(units, "edgemed.service")).Replace("ExecStart=/opt/edgemed/", "ExecStart=" + Opt + "/", StringComparison.Ordinal));
        foreach (var dropIn in Directory.GetFiles(Path.Combine(units, "edgemed.service.d")))
        {
            File.Copy(dropIn, Path.Combine(check, "edgemed.service.d", Path.GetFileName(dropIn)));
        }

        Assert.Contains("10-device.conf", string.Join(" ", Directory.GetFiles(Path.Combine(check, "edgemed.service.d"))), StringComparison.Ordinal);
        var unit = Path.Combine(check, "edgemed.service");
        var (code, output) = ReleaseFixture.Run("systemd-analyze", ["verify", unit], TimeSpan.FromMinutes(1));
        Assert.True(code == 0 && !output.Contains("edgemed", StringComparison.Ordinal), output);

        (code, output) = ReleaseFixture.Run("systemd-analyze", ["security", "--offline=true", unit], TimeSpan.FromMinutes(1));
        var exposure = Exposure().Match(output);
        Assert.True(exposure.Success, output);
        Assert.InRange(double.Parse(exposure.Groups[1].Value, CultureInfo.InvariantCulture), 0.0, 2.0);
    }

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_share, recursive: true);
    }

    [GeneratedRegex(@"Overall exposure level for edgemed\.service: ([0-9.]+)")]
    private static partial Regex Exposure();
}
