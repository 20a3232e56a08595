using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// In-process toolchain for every job (a mutator, so classes keep their own run counts):
// BenchmarkDotNet 0.14 predates .NET 10 and cannot generate a project for it.
var config = DefaultConfig.Instance
    .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).AsMutator())
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(EdgeMed.Benchmarks.OnnxRunBenchmarks).Assembly).Run(args, config);
