using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using EdgeMed.Tests;
using Microsoft.Data.Sqlite;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>
/// A test's own folders (share, models, data, quarantine) and the agent run as a real process over them, with short
/// scan, settle and quiet times. Removed at the end.
/// </summary>
internal sealed partial class AgentWorkspace : IDisposable
{
    public AgentWorkspace()
    {
        Root = Path.Combine(Path.GetTempPath(), $"edgemed-agent-{Guid.NewGuid():N}");
        Quarantine = Path.Combine(Root, "quarantine");
        Directory.CreateDirectory(Share);
        Directory.CreateDirectory(Models);
    }

    public string Root { get; }

    public string Share => Path.Combine(Root, "share");

    public string Models => Path.Combine(Root, "models");

    public string Database => Path.Combine(Root, "data", "edgemed.db");

    /// <summary>A command the agent is started through (e.g. <c>setpriv</c> dropping capabilities); empty: started directly.</summary>
    public IReadOnlyList<string> Launcher { get; set; } = [];

    /// <summary>The quarantine folder (a test may put it on another file system).</summary>
    public string Quarantine { get; set; } = string.Empty;

    /// <summary>The first <paramref name="count"/> GE axial slices (by file name), as on the scanner share.</summary>
    public static IReadOnlyList<string> GeSlices(int count) =>
        [.. Directory.GetFiles(SharedData.GeSeries).Order(StringComparer.Ordinal).Take(count)];

    /// <summary>The Philips axial series (single-frame files).</summary>
    public static IReadOnlyList<string> PhilipsSlices(int count) =>
        [.. Directory.GetFiles(Path.Combine(SharedData.Philips, "501_T1W_FFE_Sno_CS4")).Order(StringComparer.Ordinal).Take(count)];

    /// <summary>Copies files into a folder of the share (written to a hidden name, then renamed, as a careful scanner does).</summary>
    public void Drop(IEnumerable<string> files, string folder = "")
    {
        var target = Path.Combine(Share, folder);
        Directory.CreateDirectory(target);
        foreach (var file in files)
        {
            var hidden = Path.Combine(target, "." + Path.GetFileName(file));
            File.Copy(file, hidden, overwrite: true);
            File.Move(hidden, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
        }
    }

    public AgentProcess Start(IReadOnlyDictionary<string, string>? environment = null, params string[] extraArgs)
    {
        var env = new Dictionary<string, string>
        {
            ["EDGEMED__SCANINTERVAL"] = "00:00:00.300",
            ["EDGEMED__SETTLETIME"] = "00:00:00.200",
            ["EDGEMED__SERIESQUIETPERIOD"] = "00:00:01",
            ["EDGEMED__MODELSCANINTERVAL"] = "00:00:00.500",
            ["EDGEMED__MINFREEDISKMEGABYTES"] = "1",
            ["EDGEMED__INTRAOPTHREADS"] = "1",
        };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }

        return AgentProcess.Start(Root, ["run", "--share", Share, "--models", Models, "--db", Database, "--quarantine", Quarantine, .. extraArgs], env, Launcher);
    }

    /// <summary>Rows of a query on the agent's database, read-only (the agent may be writing).</summary>
    public List<Dictionary<string, object?>> Query(string sql)
    {
        var rows = new List<Dictionary<string, object?>>();
        if (!File.Exists(Database))
        {
            return rows;
        }

        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Database, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA busy_timeout=10000";
        command.ExecuteNonQuery();
        command.CommandText = sql;
        try
        {
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var row = new Dictionary<string, object?>(StringComparer.Ordinal);
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
                }

                rows.Add(row);
            }
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 1)
        {
            // no such table yet: the agent has not created its schema
        }

        return rows;
    }

    public long Count(string sql) => Query(sql) is [var row] ? Convert.ToInt64(row.Values.First(), CultureInfo.InvariantCulture) : 0;

    /// <summary>Runs a system tool (mount, sshfs, chown…) to its end; returns its exit code and error output.</summary>
    public static (int Code, string Error) RunTool(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var error = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, error.Result);
    }

    /// <summary>Makes the shipped model (models/iconvnext-tiny-alzheimer) the only package the agent finds.</summary>
    public void UseShippedModel()
    {
        Directory.Delete(Models, recursive: true);
        var shipped = Path.Combine(SharedData.Repository, "models", "iconvnext-tiny-alzheimer");
        foreach (var file in Directory.GetFiles(shipped, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(Models, "shipped", Path.GetRelativePath(shipped, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
    }

    /// <summary>The labeled sample series (samples/alzheimer-*: 6 slices each of one held-out subject).</summary>
    public static IReadOnlyList<string> LabeledSamples() =>
        [.. Directory.GetDirectories(Path.Combine(SharedData.Repository, "samples"), "alzheimer-*").Order(StringComparer.Ordinal)];

    /// <summary>Runs a tool (dcmdump, dsr2xml…) to its end; returns its exit code and standard output followed by its error output.</summary>
    public static (int Code, string Output) RunForOutput(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }

    /// <summary>A TCP port on loopback that nothing listens on now (for a test's own server).</summary>
    public static int FreeLoopbackPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Waits until a server accepts connections on a loopback port (20 s at most, or until <paramref name="alive"/> says it died).</summary>
    public static void WaitUntilListening(int port, Func<bool> alive)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                probe.Connect(System.Net.IPAddress.Loopback, port);
                return;
            }
            catch (System.Net.Sockets.SocketException) when (clock.Elapsed < TimeSpan.FromSeconds(20) && alive())
            {
                Thread.Sleep(50);
            }
        }
    }

    /// <summary>Waits for a condition on the outcome (not a retry of the test): fails with <paramref name="what"/> and the agent's log.</summary>
    public static void WaitFor(Func<bool> condition, TimeSpan timeout, string what, AgentProcess? agent = null)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                Assert.Fail($"Timed out after {timeout.TotalSeconds} s waiting for {what}.\nAgent log:\n{agent?.Log}");
            }

            if (agent is { HasExited: true })
            {
                Assert.Fail($"The agent exited ({agent.ExitCode}) while waiting for {what}.\nAgent log:\n{agent.Log}");
            }

            Thread.Sleep(100);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The agent as a real process: its log collected, stopped with SIGTERM or SIGKILL.</summary>
internal sealed partial class AgentProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private AgentProcess(Process process) => _process = process;

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>How many lines of the log contain <paramref name="text"/> (events said once are counted, not searched).</summary>
    public int LinesWith(string text) => Log.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal));

    public int Id => _process.Id;

    public static AgentProcess Start(string workingDirectory, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, IReadOnlyList<string>? launcher = null)
    {
        var folder = AppContext.BaseDirectory;
        var apphost = Path.Combine(folder, "EdgeMed.EdgeAgent");
        List<string> command = File.Exists(apphost) ? [apphost] : ["dotnet", "exec", Path.Combine(folder, "EdgeMed.EdgeAgent.dll")];
        command.InsertRange(0, launcher ?? []);
        var info = new ProcessStartInfo(command[0]);
        foreach (var arg in command.Skip(1).Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        info.WorkingDirectory = workingDirectory;
        info.RedirectStandardError = true;
        info.RedirectStandardOutput = true;
        info.UseShellExecute = false;
        foreach (var name in new[] { "NOTIFY_SOCKET", "WATCHDOG_USEC", "INVOCATION_ID", "JOURNAL_STREAM" })
        {
            info.Environment.Remove(name);
        }

        foreach (var (k, v) in environment)
        {
            info.Environment[k] = v;
        }

        var process = new Process { StartInfo = info };
        var agent = new AgentProcess(process);
        process.ErrorDataReceived += (_, e) => agent.Append(e.Data);
        process.OutputDataReceived += (_, e) => agent.Append(e.Data);
        process.Start();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        return agent;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }

    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return false;
        }

        _process.WaitForExit(); // and the output readers
        return true;
    }

    /// <summary>SIGKILL: no chance to clean up, as in a power cut or the OOM killer.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: false);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM, as <c>systemctl stop</c>; returns the exit code.</summary>
    public int Terminate(TimeSpan? timeout = null)
    {
        _ = kill(_process.Id, 15);
        if (!_process.WaitForExit(timeout ?? TimeSpan.FromSeconds(30)))
        {
            _process.Kill();
            Assert.Fail("The agent did not stop within 30 s of SIGTERM.\n" + Log);
        }

        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
