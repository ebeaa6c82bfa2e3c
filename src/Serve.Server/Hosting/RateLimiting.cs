using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Serve.Engine;
using Serve.Redis.RateLimiting;
using Serve.Server.OpenAi;

namespace Serve.Server.Hosting;

/// <summary>The limits of one API key (an entry of Serve:Quotas); null = unlimited for that key.</summary>
public sealed class ApiKeyQuota
{
    [Required]
    public string ApiKey { get; set; } = "";

    [Range(1, int.MaxValue)]
    public int? RequestsPerMinute { get; set; }

    [Range(1, int.MaxValue)]
    public int? TokensPerMinute { get; set; }
}

/// <summary>
/// Requests and tokens per minute per API key (the client address when /v1 is open), an endpoint filter on the /v1
/// route group (after <see cref="ApiKeyFilter"/>). The counters are the shared limiter's (Redis, so every replica
/// counts against one budget) or the in-process one without Redis or while Redis is down. A refused request gets
/// 429, Retry-After and an OpenAI-shaped rate_limit_exceeded error; handlers add the tokens a request used through
/// <see cref="RecordTokensAsync"/>.
/// </summary>
internal sealed class RateLimitFilter(IOptionsMonitor<ServerOptions> options, SharedState state) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        var o = options.CurrentValue;
        // With /v1 open any bearer is accepted, so it cannot name a budget (a new one per request would evade the limit).
        var bearer = o.ApiKeys.Count > 0 ? ApiKeyFilter.BearerToken(context.Request) : null;
        var limit = LimitFor(o, bearer);
        if (limit.IsUnlimited) return await next(invocation).ConfigureAwait(false);
        var key = bearer is null ? "ip:" + (context.Connection.RemoteIpAddress?.ToString() ?? "unknown") : "key:" + bearer;
        var decision = await state.Limiter.AcquireAsync(key, limit, context.RequestAborted).ConfigureAwait(false);
        if (!decision.Allowed)
        {
            throw new OpenAiException(429,
                (decision.Reason ?? "Rate limit reached.") + " Please try again later.",
                OpenAiErrorTypes.RateLimit, null, "rate_limit_exceeded")
            {
                RetryAfterSeconds = Math.Max(1, (int)Math.Ceiling(decision.RetryAfter.TotalSeconds)),
            };
        }
        if (limit.TokensPerMinute > 0) context.Features.Set(new TokenMeter(key));
        return await next(invocation).ConfigureAwait(false);
    }

    /// <summary>Counts a finished generation's tokens against the caller's per-minute token budget (when it has one).</summary>
    public static async Task RecordTokensAsync(HttpContext context, GenerationCompleted? completed)
    {
        if (completed is null || context.Features.Get<TokenMeter>() is not { } meter) return;
        var limiter = context.RequestServices.GetRequiredService<SharedState>().Limiter;
        await limiter.RecordTokensAsync(meter.Key, completed.PromptTokens + completed.CompletionTokens, CancellationToken.None).ConfigureAwait(false);
    }

    private static RateLimit LimitFor(ServerOptions o, string? bearer)
    {
        if (bearer is not null)
        {
            foreach (var q in o.Quotas)
            {
                if (string.Equals(q.ApiKey, bearer, StringComparison.Ordinal)) return new RateLimit(q.RequestsPerMinute ?? 0, q.TokensPerMinute ?? 0);
            }
        }
        return new RateLimit(o.RequestsPerMinute ?? 0, o.TokensPerMinute ?? 0);
    }

    private sealed record TokenMeter(string Key);
}
