using System.Collections.Concurrent;
using EdgeMed.Onnx.Runtime;
using Microsoft.Extensions.Logging;

namespace EdgeMed.Onnx.Tests;

public sealed class LoggingTests
{
    [Fact]
    public void OrtWarnings_ReachTheConfiguredLogger()
    {
        var logger = new CollectingLogger();
        OrtEnvironment.UseLogger(logger);
        try
        {
            // An initializer no node uses: ONNX Runtime warns that it removes it.
            var b = new Model.GraphBuilder("unused_initializer");
            var x = b.Input("x", TensorElementType.Float, 1);
            b.Initializer("never_used_weight", new float[] { 1 }, 1);
            b.NamedNode("Identity", [x], ["y"]);
            b.Output("y", TensorElementType.Float, 1);
            using var session = OnnxSession.FromBytes(b.Build().Bytes());
        }
        finally
        {
            OrtEnvironment.UseLogger(Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        }

        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("never_used_weight", StringComparison.Ordinal) && e.EventId == 2000);
    }

    [Fact]
    public void SessionCreation_IsLoggedWithTiming()
    {
        var logger = new CollectingLogger();

        using var session = OnnxSession.FromBytes(TestModels.Add(1).Bytes(), logger: logger);

        var entry = Assert.Single(logger.Entries, e => e.EventId == 2001);
        Assert.Contains("2 inputs, 1 outputs", entry.Message);
    }

    private sealed class CollectingLogger : ILogger
    {
        public ConcurrentBag<(LogLevel Level, int EventId, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, eventId.Id, formatter(state, exception)));
    }
}
