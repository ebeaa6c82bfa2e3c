using System.Buffers;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Serve.Gateway.Hosting;

namespace Serve.Gateway.Routing;

/// <summary>
/// First step of the proxy pipeline: buffers a request body (up to Gateway:MaxRequestBodyBytes, 413 beyond),
/// checks that it is JSON (400 otherwise), reads its top-level "model" and "adapters" as the routing key, and hands YARP a
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

        if (!TryReadKey(body, out var key))
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest,
                "We could not parse the JSON body of your request. The body must be a JSON object.", GatewayErrors.InvalidRequest, "invalid_json").ConfigureAwait(false);
            return;
        }

        context.Features.Set(key);
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

    /// <summary>The top-level "model" string (see <see cref="TryReadKey"/>).</summary>
    internal static bool TryReadModel(ReadOnlySpan<byte> json, out string? model)
    {
        var valid = TryReadKey(json, out var key);
        model = key?.Model;
        return valid;
    }

    /// <summary>
    /// Validates the whole document as one JSON object and finds its top-level "model" string (escapes decoded) and the
    /// names in its top-level "adapters" array ([{"name":"a","scale":0.5}, ...]). A non-string model or a malformed
    /// adapters value is no key: the replica answers that request with its own 400.
    /// </summary>
    internal static bool TryReadKey(ReadOnlySpan<byte> json, out RoutingKeyFeature? key)
    {
        key = null;
        string? model = null;
        List<string>? adapters = null;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isModel = reader.ValueTextEquals("model"u8);
                var isAdapters = reader.ValueTextEquals("adapters"u8);
                if (!reader.Read()) return false;
                if (isModel && reader.TokenType == JsonTokenType.String) model = reader.GetString();
                else if (isAdapters && reader.TokenType == JsonTokenType.StartArray) adapters = ReadAdapterNames(ref reader);
                else reader.Skip();
            }
            if (reader.TokenType != JsonTokenType.EndObject) return false;
            // Trailing content after the object is malformed JSON (the reader throws on anything but whitespace).
            if (reader.Read()) return false;
            key = new RoutingKeyFeature(model, adapters);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>The "name" of every object in the array the reader is at (left at its end); null when an entry has none.</summary>
    private static List<string>? ReadAdapterNames(ref Utf8JsonReader reader)
    {
        var names = new List<string>();
        var complete = true;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                complete = false;
                continue;
            }
            string? name = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isName = reader.ValueTextEquals("name"u8);
                reader.Read();
                if (isName && reader.TokenType == JsonTokenType.String) name = reader.GetString();
                else reader.Skip();
            }
            if (string.IsNullOrEmpty(name)) complete = false;
            else names.Add(name);
        }
        return complete ? names : null;
    }

    private static Task TooLargeAsync(HttpContext context, long limit) =>
        GatewayErrors.WriteAsync(context, StatusCodes.Status413PayloadTooLarge,
            $"The request body is larger than the gateway's limit of {limit} bytes.", GatewayErrors.InvalidRequest, "request_too_large");
}
