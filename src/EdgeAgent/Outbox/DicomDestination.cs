using System.Diagnostics;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Ledger;
using EdgeMed.EdgeAgent.Share;

namespace EdgeMed.EdgeAgent.Outbox;

/// <summary>
/// A PACS (a DICOM storage SCP): each SR is sent with C-STORE by DCMTK's <c>storescu</c>, run as a process. DCMTK is
/// the reference implementation PACS vendors test against, and a process keeps a native crash or hang out of the
/// agent (the same reason GDCM decodes in a process of its own); it is killed when the agent stops or the send takes
/// too long. The object is the same at every attempt (same SOP instance UID), so a PACS that got it before a crash
/// stores it once. Delivered means storescu's Store Response said Success (or Warning: stored, with remarks).
/// </summary>
internal sealed class DicomDestination(DestinationOptions options, string workFolder, string heatmaps) : Destination
{
    /// <summary>The program that sends (Debian package dcmtk).</summary>
    internal const string StoreScu = "storescu";

    /// <summary>The longest one send may take, connection and answer included.</summary>
    internal static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(120); // beyond storescu's own 15 + 30 + 60 s

    /// <inheritdoc />
    public override async Task DeliverAsync(string kind, StoredSeries series, CancellationToken cancellationToken)
    {
        var objects = DicomObjects(kind, series, heatmaps);
        if (objects.Count == 0)
        {
            return; // a series without heatmaps (a model they cannot be made for) has no Secondary Capture to send
        }

        // The objects carry the patient's name and ID: created owner-only next to the ledger, removed after the send
        // (and, after a crash mid-send, by the next start: see ClearWorkFolder).
        OwnerOnly.CreateDirectory(workFolder);
        var paths = objects.Select(o => Path.Combine(workFolder, $"{kind}-{o.SopInstanceUid}.dcm")).ToList();
        try
        {
            foreach (var ((file, _), path) in objects.Zip(paths))
            {
                using var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
                stream.Write(file);
            }

            await SendAsync(paths, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            paths.ForEach(File.Delete);
        }
    }

    private async Task SendAsync(List<string> paths, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(StoreScu) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
        {
            "--log-level", "info", "--aetitle", options.CallingAeTitle, "--call", options.AeTitle,
            "--timeout", "15", "--acse-timeout", "30", "--dimse-timeout", "60", options.Host, options.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }.Concat(paths))
        {
            info.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new DeliveryException("storescu did not start");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new DeliveryException("storescu is not installed (Debian package dcmtk)");
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var errors = process.StandardError.ReadToEndAsync(cancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(SendTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                throw new DeliveryException($"no answer within {SendTimeout.TotalSeconds:F0} s");
            }

            var log = (await output.ConfigureAwait(false)) + (await errors.ConfigureAwait(false));
            var verdict = Verdict(process.ExitCode, log, paths.Count);
            if (verdict is not null)
            {
                // The log's own lines name host and port: kept in the row only.
                throw new DeliveryException(verdict, LastError(log));
            }
        }
    }

    /// <summary>Removes what a crash mid-send left in the work folder (objects with patient data); called once at start.</summary>
    public static void ClearWorkFolder(string workFolder)
    {
        if (Directory.Exists(workFolder))
        {
            foreach (var file in Directory.EnumerateFiles(workFolder, "*", SearchOption.AllDirectories))
            {
                File.Delete(file);
            }
        }
    }

    /// <summary>Null when storescu's log shows all <paramref name="objects"/> stored; otherwise why not, in words safe for the log.</summary>
    internal static string? Verdict(int exitCode, string log, int objects = 1)
    {
        ArgumentNullException.ThrowIfNull(log);
        var stored = log.Split('\n').Count(l => l.Contains("Received Store Response (Success)", StringComparison.Ordinal) || l.Contains("Received Store Response (Warning", StringComparison.Ordinal));
        if (stored >= objects)
        {
            return exitCode == 0 ? null : $"storescu exit code {exitCode} after the PACS stored the objects";
        }

        return log switch
        {
            _ when log.Contains("Association Rejected", StringComparison.Ordinal) => "the PACS rejected the association (check AeTitle and CallingAeTitle)",
            _ when log.Contains("Association Request Failed", StringComparison.Ordinal) => "no association (PACS unreachable?)",
            _ when log.Contains("No presentation context", StringComparison.OrdinalIgnoreCase) => "the PACS does not accept Comprehensive SR",
            _ when log.Contains("Received Store Response", StringComparison.Ordinal) => stored > 0
                ? $"the PACS stored {stored} of {objects} objects and refused the others (Store Response failure)"
                : "the PACS refused the object (Store Response failure)",
            _ => $"storescu exit code {exitCode}, no Store Response",
        };
    }

    private static string? LastError(string log) =>
        log.Split('\n').LastOrDefault(l => l.StartsWith("E: ", StringComparison.Ordinal) || l.StartsWith("F: ", StringComparison.Ordinal))?.Trim() is { Length: > 0 } line
            ? line.Length > 200 ? line[..200] + "…" : line
            : null;
}
