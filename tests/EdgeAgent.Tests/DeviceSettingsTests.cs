using System.Runtime.InteropServices;
using EdgeMed.EdgeAgent.Cli;
using EdgeMed.EdgeAgent.Configuration;
using EdgeMed.EdgeAgent.Models;
using EdgeMed.EdgeAgent.Operations;
using EdgeMed.Onnx.Runtime;
using Microsoft.Extensions.Logging;

namespace EdgeMed.EdgeAgent.Tests;

/// <summary>What a device template chooses: precision, execution provider, and what the agent says about the CPU.</summary>
public sealed class DeviceSettingsTests : IDisposable
{
    private readonly AgentWorkspace _w = new();

    public void Dispose() => _w.Dispose();

    [Theory]
    [InlineData("aarch64-pi5.txt", "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\n", true, "asimddp")]
    [InlineData("aarch64-pi4.txt", "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n", false, "none of asimddp")]
    public void CpuFeatures_Arm_ReadsTheDotProductInstructionsFromFeatures(string name, string cpuinfo, bool expected, string instructions)
    {
        var cpu = CpuFeatures.Parse(Architecture.Arm64, cpuinfo);
        Assert.True(expected == cpu.Int8DotProduct, name);
        Assert.Equal(instructions, cpu.Instructions);
    }

    [Fact]
    public void CpuFeatures_X86_ReadsVnniFromFlags_AndSaysWhenThereIsNoFlagsLine()
    {
        var vnni = CpuFeatures.Parse(Architecture.X64, "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16\n");
        Assert.True(vnni.Int8DotProduct);
        Assert.Equal("avx512_vnni", vnni.Instructions);
        Assert.False(CpuFeatures.Parse(Architecture.X64, "flags\t: fpu sse2 avx2\n").Int8DotProduct);
        var unknown = CpuFeatures.Parse(Architecture.X64, string.Empty);
        Assert.False(unknown.Int8DotProduct);
        Assert.Contains("unknown", unknown.Instructions, StringComparison.Ordinal);
    }

    [Fact]
    public void Precision_PackagesOfTheOtherPrecisionAreRefusedByName()
    {
        var folder = Path.Combine(_w.Models, "fp32");
        TestPackages.Write(folder, 1f, DateTimeOffset.UtcNow.AddHours(-1)); // an fp32 package
        using var fp32 = new ModelLease(ModelCatalog.Load(folder, new AgentOptions { BatchSize = 2, IntraOpThreads = 1, Precision = "fp32" }));
        var e = Assert.Throws<NotForThisDeviceException>(() => ModelCatalog.Load(folder, new AgentOptions { BatchSize = 2, IntraOpThreads = 1, Precision = "int8" }));
        Assert.Contains("precision fp32; this device takes int8 packages (EdgeMed:Precision)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ExecutionProvider_MissingFromThisOnnxRuntime_FallsBackToTheCpuWithOneWarning()
    {
        Assert.DoesNotContain("CUDAExecutionProvider", OrtEnvironment.AvailableProviders); // the NuGet package is CPU-only
        var folder = Path.Combine(_w.Models, "a");
        TestPackages.Write(folder, 1f, DateTimeOffset.UtcNow.AddHours(-1));
        var logger = new ListLogger();
        var model = ModelCatalog.Load(folder, new AgentOptions { BatchSize = 2, IntraOpThreads = 1, ExecutionProvider = ExecutionProvider.Cuda }, logger);
        using var lease = new ModelLease(model);
        Assert.Equal(ExecutionProvider.Cpu, model.Provider);
        var warning = Assert.Single(logger.Lines);
        Assert.StartsWith("Warning 3504 Execution provider Cuda unavailable", warning, StringComparison.Ordinal);
        Assert.EndsWith("inference runs on the CPU", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void Settings_PrintsOneValueOrAllAsJson_NeverTheSalt_AndRefusesAnUnknownKey()
    {
        var overrides = new Dictionary<string, string?> { ["EdgeMed:Share"] = _w.Share, ["EdgeMed:Lights:ReadyPin"] = "17", ["EdgeMed:Dicom:PatientKeySalt"] = "secret-salt-7" };
        using var host = AgentHost.Build(AgentMode.Query, null, overrides);
        string Print(string? key, out int exit)
        {
            var output = new StringWriter();
            exit = SettingsCommand.Print(host, key, output, TextWriter.Null);
            return output.ToString().Trim();
        }

        Assert.Equal(_w.Share, Print("share", out var exit));
        Assert.Equal(0, exit);
        Assert.Equal("17", Print("Lights:ReadyPin", out _));
        Assert.Equal("Cpu", Print("ExecutionProvider", out _));
        var all = Print(null, out _);
        Assert.Contains("\"Share\"", all, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-salt-7", all, StringComparison.Ordinal);
        Assert.Equal(string.Empty, Print("NoSuchSetting", out exit));
        Assert.Equal(2, exit);
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add($"{logLevel} {eventId.Id} {formatter(state, exception)}");
    }
}
