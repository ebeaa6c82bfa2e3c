using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;

namespace Serve.Server.Hosting;

/// <summary>
/// Body size limits as endpoint metadata (<see cref="IRequestSizeLimitMetadata"/>) on the route groups: routing sets
/// the matched endpoint's limit before a byte of the body is read, and Kestrel refuses a body over it from
/// Content-Length (413 through the error middleware), so a 2 MB body that could never be served costs nothing to
/// refuse. Endpoints without one (probes, metrics, the API description) keep Kestrel's limit, Serve:MaxRequestBodyBytes.
/// </summary>
internal sealed class RequestBodyLimits(IOptionsMonitor<ServerOptions> options, EngineHost host)
{
    /// <summary>
    /// JSON APIs (/v1, /tokenize, vLLM's adapter endpoints): Serve:MaxRequestBodyBytes, or less once the model is
    /// loaded: what a request that fits the context could need (its prompt's byte bound, JSON-escaped, plus the grammar
    /// and schema limits and room for the rest). Read per request, so it follows the loaded model and reloaded options.
    /// </summary>
    public IRequestSizeLimitMetadata Json { get; } = new Limit(() => JsonLimit(options.CurrentValue, host.Engine));

    /// <summary>/admin, where adapter files are uploaded: Serve:MaxAdapterUploadBytes.</summary>
    public IRequestSizeLimitMetadata AdapterUpload { get; } = new Limit(() => options.CurrentValue.MaxAdapterUploadBytes);

    /// <summary>Worst case of JSON escaping: a control character becomes \u00XX.</summary>
    private const int EscapeFactor = 6;

    private const long Headroom = 64 * 1024;

    internal static long JsonLimit(ServerOptions o, Serve.Engine.InferenceEngine? engine)
    {
        if (engine is null) return o.MaxRequestBodyBytes;
        var servable = EscapeFactor * (engine.MaxPromptBytes + o.MaxGrammarBytes + (long)o.MaxSchemaBytes) + Headroom;
        return Math.Min(o.MaxRequestBodyBytes, servable);
    }

    private sealed class Limit(Func<long> bytes) : IRequestSizeLimitMetadata
    {
        public long? MaxRequestBodySize => bytes();
    }
}
