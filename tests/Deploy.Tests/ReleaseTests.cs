using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace EdgeMed.Deploy.Tests;

[Collection(ReleaseGroup.Name)]
public sealed class ReleaseTests(ReleaseFixture release)
{
    [Fact]
    public void Tarball_CarriesTheSelfContainedAgentModelUnitTemplatesScriptsAndVersion_WithItsChecksum()
    {
        var checksum = File.ReadAllText(release.Tarball + ".sha256").Split(' ', 2);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(release.Tarball))), checksum[0]);
        Assert.Equal(Path.GetFileName(release.Tarball), checksum[1].Trim());

        var r = release.Release;
        foreach (var file in new[] { "app/EdgeMed.EdgeAgent", "app/libonnxruntime.so", "app/libhostfxr.so", "app/gdcm-sharp.dll", "edgemed.service", "install.sh", "uninstall.sh", "README.md", "VERSION", "devices/raspberrypi/appsettings.json", "devices/raspberrypi/edgemed.conf", "devices/jetson/edgemed.conf", "devices/pc/edgemed.conf" })
        {
            Assert.True(File.Exists(Path.Combine(r, file)), file + " is missing from the release");
        }

        Assert.Single(Directory.GetFiles(Path.Combine(r, "models"), "manifest.json", SearchOption.AllDirectories));
        Assert.False(File.Exists(Path.Combine(r, "app", "libgdcmsharpglue.so")), "GDCM's native glue must come from the device's own libgdcm-cil");
        Assert.Contains("rid=linux-x64", File.ReadAllText(Path.Combine(r, "VERSION")), StringComparison.Ordinal);
        Assert.Contains("version=" + ReleaseFixture.Version, File.ReadAllText(Path.Combine(r, "VERSION")), StringComparison.Ordinal);
        Assert.True((File.GetUnixFileMode(Path.Combine(r, "install.sh")) & UnixFileMode.UserExecute) != 0);
    }

    [Fact]
    public void UnpackedAgent_WithNoDotnetOnPath_SendsReadyToTheNotifySocket()
    {
        var work = Directory.CreateTempSubdirectory("edgemed-ready-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(work, "share"));
            var notify = Path.Combine(work, "notify.sock");
            using var systemd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            systemd.Bind(new UnixDomainSocketEndPoint(notify));
            systemd.ReceiveTimeout = 120_000;
            var info = new ProcessStartInfo(Path.Combine(release.Release, "app", "EdgeMed.EdgeAgent"))
            {
                ArgumentList = { "run", "--share", Path.Combine(work, "share"), "--models", Path.Combine(release.Release, "models"), "--db", Path.Combine(work, "edgemed.db") },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            // Self-contained: no .NET install is found or needed.
            info.Environment["PATH"] = "/usr/bin:/bin";
            info.Environment["DOTNET_ROOT"] = Path.Combine(work, "no-dotnet");
            info.Environment["NOTIFY_SOCKET"] = notify;
            using var agent = Process.Start(info)!;
            var log = new StringBuilder();
            agent.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
            agent.BeginErrorReadLine();
            agent.BeginOutputReadLine();
            try
            {
                var buffer = new byte[4096];
                var messages = new List<string>();
                while (!messages.Contains("READY=1"))
                {
                    try
                    {
                        messages.AddRange(Encoding.UTF8.GetString(buffer, 0, systemd.Receive(buffer)).Split('\n'));
                    }
                    catch (SocketException)
                    {
                        lock (log)
                        {
                            Assert.Fail("no READY=1 within 120 s; log:\n" + log);
                        }
                    }
                }
            }
            finally
            {
                agent.Kill();
                agent.WaitForExit();
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
