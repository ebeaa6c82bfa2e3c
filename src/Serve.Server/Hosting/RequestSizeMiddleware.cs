using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Serve.Server.Hosting;

/// <summary>
/// Sets the body limit per request: large for adapter uploads on /admin; on /v1 Serve:MaxRequestBodyBytes, or less
/// once the model is loaded: what a request that fits the context could need (its prompt's byte bound, JSON-escaped,
/// plus the grammar and schema limits and room for the rest). Kestrel enforces it from Content-Length before reading
/// a byte (413 through the error middleware), so a 2 MB body that could never be served costs nothing to refuse.
/// </summary>
internal sealed class RequestSizeMiddleware(RequestDelegate next, IOptionsMonitor<ServerOptions> options, EngineHost host)
{
    /// <summary>Worst case of JSON escaping: a control character becomes \u00XX.</summary>
    private const int EscapeFactor = 6;

    private const long Headroom = 64 * 1024;

    public Task InvokeAsync(HttpContext context)
    {
        var feature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false })
        {
            var o = options.CurrentValue;
            feature.MaxRequestBodySize = context.Request.Path.StartsWithSegments("/admin") ? o.MaxAdapterUploadBytes : JsonBodyLimit(o);
        }
        return next(context);
    }

    private long JsonBodyLimit(ServerOptions o)
    {
        if (host.Engine is not { } engine) return o.MaxRequestBodyBytes;
        var servable = EscapeFactor * (engine.MaxPromptBytes + o.MaxGrammarBytes + (long)o.MaxSchemaBytes) + Headroom;
        return Math.Min(o.MaxRequestBodyBytes, servable);
    }
}
