using System.Text.Json;
using System.Threading.Channels;
using Serve.LoadTest.Metrics;

namespace Serve.LoadTest.Simulations;

/// <summary>Writes the per-request JSONL file from a background task, so request completions never wait on disk.</summary>
public sealed class RequestLogWriter : IAsyncDisposable
{
    private readonly Channel<RequestRecord> _channel = Channel.CreateUnbounded<RequestRecord>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
    private readonly Task _pump;
    private readonly JsonSerializerOptions _options;

    public RequestLogWriter(string? path, JsonSerializerOptions options)
    {
        _options = options;
        Path = path;
        _pump = path is null ? DrainAsync() : PumpAsync(path);
    }

    public string? Path { get; }

    public void Write(RequestRecord record) => _channel.Writer.TryWrite(record);

    private async Task DrainAsync()
    {
        await foreach (var _ in _channel.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            // No file requested: nothing to keep.
        }
    }

    private async Task PumpAsync(string path)
    {
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16, useAsync: true);
        var newline = "\n"u8.ToArray();
        while (await _channel.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (_channel.Reader.TryRead(out var record))
            {
                await JsonSerializer.SerializeAsync(file, record, _options).ConfigureAwait(false);
                await file.WriteAsync(newline).ConfigureAwait(false);
            }
            await file.FlushAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
    }
}
