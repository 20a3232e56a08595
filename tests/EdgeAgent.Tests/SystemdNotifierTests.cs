using System.Net.Sockets;
using System.Text;
using EdgeMed.EdgeAgent.Operations;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>The notify datagrams as systemd receives them: a real Unix datagram socket bound by the test.</summary>
public sealed class SystemdNotifierTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"edgemed-notify-{Guid.NewGuid():N}.sock");
    private readonly Socket _systemd = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public SystemdNotifierTests() => _systemd.Bind(new UnixDomainSocketEndPoint(_path));

    private string Receive()
    {
        var buffer = new byte[4096];
        _systemd.ReceiveTimeout = 5000;
        var length = _systemd.Receive(buffer);
        return Encoding.UTF8.GetString(buffer, 0, length);
    }

    [Fact]
    public void ReadyStatusWatchdogStopping_ArriveAsSystemdDatagrams()
    {
        using var notifier = new SystemdNotifier(new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = _path, ["WATCHDOG_USEC"] = "30000000" });

        notifier.Ready();
        notifier.Status("watching /mnt/scanner\n(2 series)");
        notifier.Watchdog();
        notifier.Stopping();

        Assert.True(notifier.IsEnabled);
        Assert.Equal(TimeSpan.FromSeconds(30), notifier.WatchdogInterval);
        Assert.Equal("READY=1", Receive());
        Assert.Equal("STATUS=watching /mnt/scanner (2 series)", Receive());
        Assert.Equal("WATCHDOG=1", Receive());
        Assert.Equal("STOPPING=1", Receive());
    }

    [Fact]
    public void WithoutNotifySocket_NothingIsSentAndNothingFails()
    {
        using var notifier = new SystemdNotifier(new Dictionary<string, string?>());

        Assert.False(notifier.IsEnabled);
        Assert.False(notifier.Send("READY=1"));
        Assert.Null(notifier.WatchdogInterval);
    }

    [Fact]
    public void SocketThatVanished_IsBestEffort()
    {
        using var notifier = new SystemdNotifier(new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = _path + ".gone" });

        Assert.False(notifier.Send("READY=1"));
    }

    public void Dispose()
    {
        _systemd.Dispose();
        File.Delete(_path);
    }
}
