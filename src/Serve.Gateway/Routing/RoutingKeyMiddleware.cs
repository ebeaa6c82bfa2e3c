using System.Buffers;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Serve.Gateway.Hosting;

namespace Serve.Gateway.Routing;

/// <summary>
/// First step of the proxy pipeline: buffers a request body (up to Gateway:MaxRequestBodyBytes, 413 beyond),
/// checks that it is JSON (400 otherwise), reads its top-level "model" as the routing key, and hands YARP a
/// rewindable copy of the same bytes, so the body is forwarded unchanged and can be resent on a connect retry.
/// </summary>
internal sealed class RoutingKeyMiddleware
{
    private readonly RequestDelegate _next;
    private readonly IOptionsMonitor<GatewayOptions> _options;

    public RoutingKeyMiddleware(RequestDelegate next, IOptionsMonitor<GatewayOptions> options)
    {
        _next = next;
        _options = options;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (!HasBody(request))
        {
            context.Features.Set(new RoutingKeyFeature(null));
            await _next(context).ConfigureAwait(false);
            return;
        }

        var limit = _options.CurrentValue.MaxRequestBodyBytes;
        if (request.ContentLength > limit)
        {
            await TooLargeAsync(context, limit).ConfigureAwait(false);
            return;
        }

        var body = await ReadAsync(request.Body, limit, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
        {
            await TooLargeAsync(context, limit).ConfigureAwait(false);
            return;
        }

        if (!TryReadModel(body, out var model))
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest,
                "We could not parse the JSON body of your request. The body must be a JSON object.", GatewayErrors.InvalidRequest, "invalid_json").ConfigureAwait(false);
            return;
        }

        context.Features.Set(new RoutingKeyFeature(model));
        request.Body = new MemoryStream(body, writable: false);
        // The buffered copy has a known length: forward it as such, whatever framing the client used.
        request.Headers.TransferEncoding = default;
        request.ContentLength = body.Length;
        await _next(context).ConfigureAwait(false);
    }

    private static bool HasBody(HttpRequest request) =>
        request.ContentLength > 0 || (request.ContentLength is null && !string.IsNullOrEmpty(request.Headers.TransferEncoding));

    /// <summary>The whole body, or null once it passes limit (reading stops there).</summary>
    internal static async Task<byte[]?> ReadAsync(Stream source, long limit, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        while (true)
        {
            var memory = buffer.GetMemory(16 * 1024);
            var read = await source.ReadAsync(memory, cancellationToken).ConfigureAwait(false);
            if (read == 0) return buffer.WrittenSpan.ToArray();
            buffer.Advance(read);
            if (buffer.WrittenCount > limit) return null;
        }
    }

    /// <summary>
    /// Validates the whole document as one JSON object and finds its top-level "model" string (escapes decoded).
    /// A non-string model is no key: the replica answers that request with its own 400.
    /// </summary>
    internal static bool TryReadModel(ReadOnlySpan<byte> json, out string? model)
    {
        model = null;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isModel = reader.ValueTextEquals("model"u8);
                if (!reader.Read()) return false;
                if (isModel && reader.TokenType == JsonTokenType.String) model = reader.GetString();
                else reader.Skip();
            }
            if (reader.TokenType != JsonTokenType.EndObject) return false;
            // Trailing content after the object is malformed JSON (the reader throws on anything but whitespace).
            return !reader.Read();
        }
        catch (JsonException)
        {
            model = null;
            return false;
        }
    }

    private static Task TooLargeAsync(HttpContext context, long limit) =>
        GatewayErrors.WriteAsync(context, StatusCodes.Status413PayloadTooLarge,
            $"The request body is larger than the gateway's limit of {limit} bytes.", GatewayErrors.InvalidRequest, "request_too_large");
}
