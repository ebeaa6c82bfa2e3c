namespace Serve.Redis.RateLimiting;

/// <summary>
/// Requests and tokens per minute per API key. Acquire counts a request (when allowed); RecordTokens adds the tokens
/// a finished request used. A key is refused while its request count or its tokens in the current minute window
/// are at the limit.
/// </summary>
public interface IRateLimiter
{
    ValueTask<RateLimitDecision> AcquireAsync(string key, RateLimit limit, CancellationToken cancellationToken = default);
    ValueTask RecordTokensAsync(string key, int tokens, CancellationToken cancellationToken = default);
}
