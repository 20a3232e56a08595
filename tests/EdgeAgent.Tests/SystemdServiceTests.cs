using EdgeMed.EdgeAgent.Operations;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>READY, STATUS, WATCHDOG and STOPPING end to end are in AgentProcessTests (a real socket, the real process).</summary>
public sealed class SystemdServiceTests
{
    [Theory]
    [InlineData("30000000", 30_000.0)]
    [InlineData("400000", 400.0)]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("0", null)]
    [InlineData("-5", null)]
    [InlineData("soon", null)]
    public void WatchdogInterval_IsWatchdogUsec_OrNoneWhenAbsentOrInvalid(string? value, double? milliseconds)
    {
        Assert.Equal(milliseconds, SystemdService.WatchdogInterval(value)?.TotalMilliseconds);
    }
}
