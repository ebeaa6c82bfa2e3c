using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Serve.Server.OpenAi;

/// <summary>Server-sent events as OpenAI frames them: <c>data: {json}\n\n</c>, flushed per event, ending with <c>data: [DONE]</c>.</summary>
public sealed class SseWriter(HttpResponse response)
{
    private static readonly byte[] Prefix = "data: "u8.ToArray();
    private static readonly byte[] Separator = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

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
        await body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task WriteDoneAsync(CancellationToken cancellationToken)
    {
        await response.BodyWriter.WriteAsync(Done, cancellationToken).ConfigureAwait(false);
        await response.BodyWriter.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
