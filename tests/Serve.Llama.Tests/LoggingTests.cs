using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Serve.Llama.Tests;

/// <summary>In the model collection: the logger is process-wide, so no other model test may run meanwhile.</summary>
[Collection(LlamaModelCollection.Name)]
public sealed class LoggingTests(LlamaModelFixture fixture)
{
    [Fact]
    public void SetLoggerFactory_ModelLoad_RoutesNativeLinesToILogger()
    {
        var provider = new CapturingProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(provider).SetMinimumLevel(LogLevel.Trace));
        LlamaLogging.SetLoggerFactory(factory);
        try
        {
            using var model = LlamaModel.Load(fixture.ModelPath);
            Assert.Throws<LlamaException>(() => LlamaLoraAdapter.Load(model, fixture.WrongShapes));
        }
        finally
        {
            LlamaLogging.SetLoggerFactory(null);
        }
        var entries = provider.Entries.ToArray();
        Assert.All(entries, e => Assert.Equal(LlamaLogging.Category, e.Category));
        Assert.Contains(entries, e => e.Level == LogLevel.Information && e.Message.Contains("llama_model_loader"));
        Assert.Contains(entries, e => e.Level == LogLevel.Error && e.Message.Contains("incorrect shape"));
        Assert.All(entries, e => Assert.False(e.Message.EndsWith('\n')));
    }

    private sealed record Entry(string Category, LogLevel Level, string Message);

    private sealed class CapturingProvider : ILoggerProvider
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();
        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Entries);
        public void Dispose() { }

        private sealed class Logger(string category, ConcurrentQueue<Entry> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Enqueue(new Entry(category, logLevel, formatter(state, exception)));
        }
    }
}
