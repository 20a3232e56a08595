using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace EdgeMed.EdgeAgent.Operations;

/// <summary>
/// systemd's notify protocol (sd_notify), written here because Microsoft.Extensions.Hosting.Systemd is not available:
/// one datagram per message to the Unix socket named by <c>NOTIFY_SOCKET</c> (a path, or an abstract name starting
/// with '@'). Without <c>NOTIFY_SOCKET</c> (not under systemd) every call does nothing.
/// </summary>
public sealed class SystemdNotifier : IDisposable
{
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endpoint;

    /// <summary>Reads <c>NOTIFY_SOCKET</c> and <c>WATCHDOG_USEC</c> from <paramref name="environment"/> (the process's by default).</summary>
    public SystemdNotifier(IReadOnlyDictionary<string, string?>? environment = null)
    {
        string? Get(string name) => environment is null ? Environment.GetEnvironmentVariable(name) : environment.GetValueOrDefault(name);
        var path = Get("NOTIFY_SOCKET");
        if (!string.IsNullOrEmpty(path))
        {
            // An abstract socket name is written with a leading '@' and sent with a leading NUL.
            _endpoint = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
            _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        }

        if (long.TryParse(Get("WATCHDOG_USEC"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var microseconds) && microseconds > 0)
        {
            WatchdogInterval = TimeSpan.FromTicks(microseconds * 10);
        }
    }

    /// <summary>Whether the process runs under systemd with notify support.</summary>
    public bool IsEnabled => _socket is not null;

    /// <summary>The watchdog interval systemd asked for, or null; send <see cref="Watchdog"/> at least twice per interval.</summary>
    public TimeSpan? WatchdogInterval { get; }

    /// <summary>The service finished starting.</summary>
    public void Ready() => Send("READY=1");

    /// <summary>The service is stopping.</summary>
    public void Stopping() => Send("STOPPING=1");

    /// <summary>Keeps the watchdog from restarting the service.</summary>
    public void Watchdog() => Send("WATCHDOG=1");

    /// <summary>A one-line status for <c>systemctl status</c>.</summary>
    public void Status(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Send("STATUS=" + text.ReplaceLineEndings(" "));
    }

    /// <summary>Sends one raw notify message (e.g. <c>READY=1</c>); returns whether it was sent.</summary>
    public bool Send(string message)
    {
        if (_socket is null || _endpoint is null)
        {
            return false;
        }

        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(message), SocketFlags.None, _endpoint);
            return true;
        }
        catch (SocketException)
        {
            // systemd gone or the socket not there: notification is best effort, the service goes on.
            return false;
        }
    }

    /// <summary>Closes the socket.</summary>
    public void Dispose() => _socket?.Dispose();
}
