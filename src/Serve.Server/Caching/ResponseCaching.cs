using Microsoft.Extensions.Options;
using Prometheus;
using Serve.Engine;
using Serve.Redis.Caching;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;

namespace Serve.Server.Caching;

/// <summary>
/// The response cache in front of the engine for deterministic requests (temperature 0, or a fixed seed). The key
/// is the base model's hash, the adapter configuration with each adapter's version (content hash) and scale, the
/// endpoint and the canonical request, so a republished adapter can never match an old entry. A hit is written
/// back byte for byte (JSON, or the whole SSE stream); a miss records what it sends and stores it once the
/// generation finished whole. Marked with <c>X-Serve-Cache: hit|miss</c> and counted in
/// <c>serve_response_cache_lookups_total{result}</c>.
/// </summary>
internal sealed class ResponseCaching(SharedState state, IOptionsMonitor<ResponseCacheOptions> options)
{
    public const string Header = "X-Serve-Cache";

    private static readonly Counter Lookups = Metrics.CreateCounter("serve_response_cache_lookups_total",
        "Response cache lookups of deterministic requests, by result (hit or miss).", new CounterConfiguration { LabelNames = ["result"] });
    private static readonly Counter Stores = Metrics.CreateCounter("serve_response_cache_stores_total", "Responses stored in the response cache.");

    public static bool IsDeterministic(GenerationRequest request) => request.Sampling.IsGreedy || request.Sampling.Seed is not null;

    /// <summary>Serves a hit, or prepares the response of a miss to be recorded. Non-deterministic requests pass through.</summary>
    public async Task<ResponseCacheTicket> LookupAsync(HttpContext context, InferenceEngine engine, string endpoint, GenerationPlan plan)
    {
        var o = options.CurrentValue;
        if (!o.Enabled || !IsDeterministic(plan.Request) || Configuration(engine, plan.Request.Adapters) is not { } adapters) return ResponseCacheTicket.PassThrough;
        var canonical = CanonicalRequest.Write(plan, engine.Options);
        var key = ResponseCacheKey.Compute(engine.BaseModel.Sha256, adapters.Key, endpoint, canonical);
        var response = context.Response;
        var hit = await state.Cache.GetAsync(key, context.RequestAborted).ConfigureAwait(false);
        if (hit is not null)
        {
            Lookups.WithLabels("hit").Inc();
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = hit.ContentType;
            response.Headers[Header] = "hit";
            if (plan.Stream)
            {
                response.Headers.CacheControl = "no-cache";
                response.Headers["X-Accel-Buffering"] = "no";
            }
            else
            {
                response.ContentLength = hit.Body.Length;
            }
            await response.Body.WriteAsync(hit.Body, context.RequestAborted).ConfigureAwait(false);
            return ResponseCacheTicket.Hit;
        }
        Lookups.WithLabels("miss").Inc();
        response.Headers[Header] = "miss";
        var original = response.Body;
        var recorder = new ResponseRecorder(original, o.MaxEntryBytes);
        response.Body = recorder;
        return new ResponseCacheTicket(context, original, recorder, async (run, contentType, body) =>
        {
            // Store under the configuration the engine really used: an adapter replaced between lookup and start
            // must not put the new version's answer under the old version's key.
            if (run.Started is not { } started) return;
            var storeKey = started.Adapters.Key == adapters.Key ? key : ResponseCacheKey.Compute(engine.BaseModel.Sha256, started.Adapters.Key, endpoint, canonical);
            await state.Cache.SetAsync(storeKey, new CachedResponse(contentType, body, DateTimeOffset.UtcNow), o.TimeToLive).ConfigureAwait(false);
            Stores.Inc();
        }, plan.Stream);
    }

    /// <summary>The configuration a request will run with, by the adapters' current versions; null when one is unknown (the engine answers 404).</summary>
    private static AdapterConfiguration? Configuration(InferenceEngine engine, IReadOnlyList<AdapterWeight> weights)
    {
        var versions = new string[weights.Count];
        for (var i = 0; i < weights.Count; i++)
        {
            if (engine.Adapters.Find(weights[i].Name) is not { } info) return null;
            versions[i] = info.Version;
        }
        return AdapterConfiguration.From(weights, i => versions[i]);
    }
}

/// <summary>What a handler does after a lookup: nothing more on a hit; on a miss, generate and then call CompleteAsync.</summary>
internal sealed class ResponseCacheTicket
{
    private static readonly byte[] SseDone = "data: [DONE]\n\n"u8.ToArray();

    private readonly HttpContext? _context;
    private readonly Stream? _original;
    private readonly ResponseRecorder? _recorder;
    private readonly Func<GenerationRun, string, byte[], Task>? _store;
    private readonly bool _stream;

    internal static ResponseCacheTicket PassThrough { get; } = new(false);
    internal static ResponseCacheTicket Hit { get; } = new(true);

    private ResponseCacheTicket(bool served) => Served = served;

    internal ResponseCacheTicket(HttpContext context, Stream original, ResponseRecorder recorder, Func<GenerationRun, string, byte[], Task> store, bool stream)
    {
        _context = context;
        _original = original;
        _recorder = recorder;
        _store = store;
        _stream = stream;
    }

    /// <summary>True when the response was written from the cache.</summary>
    public bool Served { get; }

    /// <summary>Stores the recorded response when it is whole: a 200, the generation completed, the client stayed, the SSE stream ended with [DONE].</summary>
    public async Task CompleteAsync(GenerationRun run)
    {
        if (_context is null || _recorder is null || _original is null || _store is null) return;
        var response = _context.Response;
        await response.BodyWriter.FlushAsync(_context.RequestAborted).ConfigureAwait(false);
        response.Body = _original;
        var body = _recorder.Recorded;
        if (_context.RequestAborted.IsCancellationRequested || response.StatusCode != StatusCodes.Status200OK || _recorder.Overflowed
            || run.Completed is null || body.Length == 0 || (_stream && !body.AsSpan().EndsWith(SseDone)))
            return;
        await _store(run, response.ContentType ?? "application/json", body).ConfigureAwait(false);
    }
}
