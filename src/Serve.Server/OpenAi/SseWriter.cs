using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Options;
using Serve.Server.Hosting;

namespace Serve.Server.OpenAi;

/// <summary>Server-sent events as OpenAI frames them: <c>data: {json}\n\n</c>, flushed per event, ending with <c>data: [DONE]</c>.</summary>
internal sealed class SseWriter(HttpResponse response)
{
    private static readonly byte[] Prefix = "data: "u8.ToArray();
    private static readonly byte[] Separator = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();
    private static readonly Prometheus.Counter StalledStreams = Prometheus.Metrics.CreateCounter(
        "serve_streams_stalled_total", "Streams ended because the client stopped reading for Serve:StreamStallTimeout.");

    public void Start()
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // proxies must not hold tokens back
    }

    public async Task WriteAsync<T>(T value, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        var body = response.BodyWriter;
        body.Write(Prefix);
        using (var writer = new Utf8JsonWriter(body)) JsonSerializer.Serialize(writer, value, typeInfo);
        body.Write(Separator);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task WriteDoneAsync(CancellationToken cancellationToken)
    {
        response.BodyWriter.Write(Done);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A flush waits only when the client stopped reading (socket and response buffers full). One that waits longer
    /// than Serve:StreamStallTimeout ends the connection: the request is aborted, so the engine frees its sequence
    /// instead of generating for a reader that is gone in all but name.
    /// </summary>
    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        var flush = response.BodyWriter.FlushAsync(cancellationToken);
        if (flush.IsCompleted)
        {
            await flush.ConfigureAwait(false);
            return;
        }
        var timeout = response.HttpContext.RequestServices.GetService<IOptionsMonitor<ServerOptions>>()?.CurrentValue.StreamStallTimeout ?? TimeSpan.FromSeconds(30);
        var pending = flush.AsTask();
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (await Task.WhenAny(pending, Task.Delay(timeout, timer.Token)).ConfigureAwait(false) != pending)
        {
            StalledStreams.Inc();
            response.HttpContext.Abort();
            throw new OperationCanceledException("The client stopped reading the stream.", response.HttpContext.RequestAborted);
        }
        await timer.CancelAsync().ConfigureAwait(false);
        await pending.ConfigureAwait(false);
    }
}
