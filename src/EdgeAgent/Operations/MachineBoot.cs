namespace EdgeMed.EdgeAgent.Operations;

/// <summary>
/// This boot of the machine: deaths of the agent are counted per boot, so a power cut (a new boot) is told from a
/// package or series that kills the agent again and again.
/// </summary>
public static class MachineBoot
{
    /// <summary>The kernel's id of this boot (<c>/proc/sys/kernel/random/boot_id</c>), or "unknown".</summary>
    public static string Id { get; } = Read();

    private static string Read()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unknown"; // every death then counts, as on a machine that never reboots
        }
    }
}
