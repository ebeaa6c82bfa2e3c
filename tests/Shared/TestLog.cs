using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Serve.Testing;

/// <summary>Collects log lines so tests can assert on what was logged (and how often). Linked into the projects that use it.</summary>
public sealed class TestLog : ILoggerProvider
{
    public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Lines { get; } = new();

    public ILoggerFactory Factory => LoggerFactory.Create(b => b.AddProvider(this).SetMinimumLevel(LogLevel.Debug));

    public ILogger<T> For<T>() => Factory.CreateLogger<T>();

    public int Count(LogLevel level, string contains) => Lines.Count(l => l.Level == level && l.Message.Contains(contains, StringComparison.Ordinal));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private sealed class Logger(TestLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            log.Lines.Enqueue((logLevel, category, formatter(state, exception)));
    }
}
