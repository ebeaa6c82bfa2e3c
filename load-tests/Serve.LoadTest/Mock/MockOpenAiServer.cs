using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Serve.LoadTest.Mock;

/// <summary>A small OpenAI-shaped endpoint on Kestrel (loopback only): streams one token per SSE chunk with
/// configurable delays, honours max_tokens, reports usage, answers repeated deterministic requests from a
/// cache with a hit header, and can inject failures. It is what the load tool's tests and overhead benchmark
/// drive; it is not a model server.</summary>
public sealed class MockOpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly MockServerOptions _options;
    private readonly ConcurrentDictionary<string, byte> _cache = new(StringComparer.Ordinal);
    private readonly Random _rng;
    private readonly Lock _rngGate = new();
    private readonly SemaphoreSlim? _slots;
    private long _requests;
    private long _failures;
    private long _active;
    private long _maxActive;

    private MockOpenAiServer(WebApplication app, MockServerOptions options)
    {
        _app = app;
        _options = options;
        _rng = new Random(options.Seed);
        _slots = options.Slots > 0 ? new SemaphoreSlim(options.Slots) : null;
    }

    public string BaseUrl { get; private set; } = "";

    /// <summary>Completion requests received (chat and completions).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>The most completion requests that were being answered at the same time.</summary>
    public long MaxConcurrent => Interlocked.Read(ref _maxActive);

    public static async Task<MockOpenAiServer> StartAsync(MockServerOptions options, CancellationToken token = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(System.Net.IPAddress.Loopback, options.Port);
            k.AddServerHeader = false;
        });
        var app = builder.Build();
        var server = new MockOpenAiServer(app, options);
        server.Map(app);
        await app.StartAsync(token).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUrl = address.Replace("[::1]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/');
        return server;
    }

    private void Map(WebApplication app)
    {
        app.MapGet("/health", () => Results.Text("ok"));
        app.MapGet("/v1/models", (HttpContext ctx) =>
        {
            if (!Authorized(ctx)) return Error(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.");
            var models = (_options.Models ?? ["base"]).Select(m => new { id = m, @object = "model", created = 0, owned_by = "mock" });
            return Results.Json(new { @object = "list", data = models });
        });
        app.MapPost("/v1/chat/completions", (HttpContext ctx) => TrackAsync(ctx, chat: true));
        app.MapPost("/v1/completions", (HttpContext ctx) => TrackAsync(ctx, chat: false));
    }

    private bool Authorized(HttpContext ctx) =>
        _options.ApiKey is null || ctx.Request.Headers.Authorization.ToString() == "Bearer " + _options.ApiKey;

    private async Task TrackAsync(HttpContext ctx, bool chat)
    {
        var active = Interlocked.Increment(ref _active);
        long seen;
        while (active > (seen = Interlocked.Read(ref _maxActive)) && Interlocked.CompareExchange(ref _maxActive, active, seen) != seen)
        {
            // Another request raised the maximum first; try again against the new value.
        }
        try
        {
            await CompleteAsync(ctx, chat).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    private async Task CompleteAsync(HttpContext ctx, bool chat)
    {
        Interlocked.Increment(ref _requests);
        var aborted = ctx.RequestAborted;
        if (!Authorized(ctx))
        {
            await Error(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.").ExecuteAsync(ctx).ConfigureAwait(false);
            return;
        }
        using var buffer = new MemoryStream();
        await ctx.Request.Body.CopyToAsync(buffer, aborted).ConfigureAwait(false);
        var raw = buffer.ToArray();
        string model;
        int maxTokens;
        bool stream, includeUsage, deterministic;
        int promptChars;
        try
        {
            using var doc = JsonDocument.Parse(raw);
            var root = doc.RootElement;
            model = root.GetProperty("model").GetString() ?? "";
            maxTokens = root.TryGetProperty("max_tokens", out var mt) && mt.TryGetInt32(out var m) ? m : _options.DefaultMaxTokens;
            stream = root.TryGetProperty("stream", out var st) && st.ValueKind == JsonValueKind.True;
            includeUsage = root.TryGetProperty("stream_options", out var so) && so.ValueKind == JsonValueKind.Object
                && so.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True;
            deterministic = root.TryGetProperty("temperature", out var t) && t.TryGetDouble(out var temp) && temp == 0;
            promptChars = chat
                ? root.GetProperty("messages").EnumerateArray().Sum(msg => msg.GetProperty("content").GetString()?.Length ?? 0)
                : root.GetProperty("prompt").GetString()?.Length ?? 0;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            await Error(400, "invalid_request_error", null, "Malformed request: " + e.Message).ExecuteAsync(ctx).ConfigureAwait(false);
            return;
        }
        if (maxTokens < 1)
        {
            await Error(400, "invalid_request_error", "invalid_value", "max_tokens must be at least 1").ExecuteAsync(ctx).ConfigureAwait(false);
            return;
        }
        if (_options.Models is { } models && !models.Contains(model))
        {
            await Error(404, "invalid_request_error", "model_not_found", $"The model '{model}' does not exist.").ExecuteAsync(ctx).ConfigureAwait(false);
            return;
        }
        if (_options.FailureRate > 0 && NextDouble() < _options.FailureRate)
        {
            // Alternate between an overloaded server and a rate limit, so both error shapes get exercised.
            if (Interlocked.Increment(ref _failures) % 2 == 0)
            {
                ctx.Response.Headers.RetryAfter = "1";
                await Error(429, "rate_limit_error", "rate_limit_exceeded", "Rate limit reached.").ExecuteAsync(ctx).ConfigureAwait(false);
            }
            else
            {
                await Error(500, "server_error", null, "The mock server failed this request on purpose.").ExecuteAsync(ctx).ConfigureAwait(false);
            }
            return;
        }
        // The cache key is the whole body: same adapter, prompt and sampling settings give the same answer.
        var hit = deterministic && !_cache.TryAdd(Encoding.UTF8.GetString(raw), 0);
        if (deterministic) ctx.Response.Headers[_options.CacheHeader] = hit ? "hit" : "miss";
        var ttft = hit ? 0 : _options.TtftMs + _options.PrefillMsPerKiloChar * promptChars / 1000.0;
        var itl = hit ? 0 : _options.ItlMs;
        var id = "cmpl-" + Interlocked.Read(ref _requests).ToString(CultureInfo.InvariantCulture);
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        // A cache hit needs no generation slot.
        var slots = hit ? null : _slots;
        if (slots is not null) await slots.WaitAsync(aborted).ConfigureAwait(false);
        try
        {
            if (stream) await StreamAsync(ctx, chat, id, created, model, maxTokens, promptChars, includeUsage, ttft, itl, aborted).ConfigureAwait(false);
            else await WholeAsync(ctx, chat, id, created, model, maxTokens, promptChars, ttft, itl, aborted).ConfigureAwait(false);
        }
        finally
        {
            slots?.Release();
        }
    }

    private static async Task StreamAsync(HttpContext ctx, bool chat, string id, long created, string model, int tokens,
        int promptChars, bool includeUsage, double ttftMs, double itlMs, CancellationToken aborted)
    {
        ctx.Response.ContentType = "text/event-stream";
        ctx.Response.Headers.CacheControl = "no-cache";
        var body = ctx.Response.Body;
        var kind = chat ? "chat.completion.chunk" : "text_completion";
        var head = $"{{\"id\":\"{id}\",\"object\":\"{kind}\",\"created\":{created},\"model\":{JsonSerializer.Serialize(model)},";
        await Delay(ttftMs, aborted).ConfigureAwait(false);
        for (var i = 0; i < tokens; i++)
        {
            if (i > 0) await Delay(itlMs, aborted).ConfigureAwait(false);
            var last = i == tokens - 1;
            var finish = last ? "\"length\"" : "null";
            var choice = chat
                ? $"{{\"index\":0,\"delta\":{{{(i == 0 ? "\"role\":\"assistant\"," : "")}\"content\":\"{Token(i)}\"}},\"finish_reason\":{finish}}}"
                : $"{{\"index\":0,\"text\":\"{Token(i)}\",\"finish_reason\":{finish}}}";
            await WriteEvent(body, head + "\"choices\":[" + choice + "]}", aborted).ConfigureAwait(false);
        }
        if (includeUsage)
            await WriteEvent(body, head + "\"choices\":[]," + Usage(promptChars, tokens) + "}", aborted).ConfigureAwait(false);
        await WriteEvent(body, "[DONE]", aborted).ConfigureAwait(false);
    }

    private static async Task WholeAsync(HttpContext ctx, bool chat, string id, long created, string model, int tokens,
        int promptChars, double ttftMs, double itlMs, CancellationToken aborted)
    {
        await Delay(ttftMs + itlMs * (tokens - 1), aborted).ConfigureAwait(false);
        var text = string.Concat(Enumerable.Range(0, tokens).Select(Token));
        var choice = chat
            ? $"{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"{text}\"}},\"finish_reason\":\"length\"}}"
            : $"{{\"index\":0,\"text\":\"{text}\",\"finish_reason\":\"length\"}}";
        var json = $"{{\"id\":\"{id}\",\"object\":\"{(chat ? "chat.completion" : "text_completion")}\",\"created\":{created}," +
                   $"\"model\":{JsonSerializer.Serialize(model)},\"choices\":[{choice}],{Usage(promptChars, tokens)}}}";
        ctx.Response.ContentType = "application/json";
        await ctx.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(json), aborted).ConfigureAwait(false);
    }

    private static string Token(int i) => i == 0 ? "Hello" : " w" + (i % 100).ToString(CultureInfo.InvariantCulture);

    // About four characters per token, the usual rule of thumb.
    private static string Usage(int promptChars, int tokens) =>
        $"\"usage\":{{\"prompt_tokens\":{Math.Max(1, promptChars / 4)},\"completion_tokens\":{tokens},\"total_tokens\":{Math.Max(1, promptChars / 4) + tokens}}}";

    private static async Task WriteEvent(Stream body, string data, CancellationToken aborted)
    {
        await body.WriteAsync(Encoding.UTF8.GetBytes("data: " + data + "\n\n"), aborted).ConfigureAwait(false);
        await body.FlushAsync(aborted).ConfigureAwait(false);
    }

    private static Task Delay(double ms, CancellationToken token) =>
        ms > 0 ? Task.Delay(TimeSpan.FromMilliseconds(ms), token) : Task.CompletedTask;

    private double NextDouble()
    {
        lock (_rngGate) return _rng.NextDouble();
    }

    private static IResult Error(int status, string type, string? code, string message) =>
        Results.Json(new { error = new { message, type, param = (string?)null, code } }, statusCode: status);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _slots?.Dispose();
    }
}
