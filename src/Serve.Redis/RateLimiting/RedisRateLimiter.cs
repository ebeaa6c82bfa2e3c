using StackExchange.Redis;

namespace Serve.Redis.RateLimiting;

/// <summary>
/// Limits shared by every replica: one-minute window counters in Redis (keys <c>ratelimit:&lt;key&gt;:&lt;minute&gt;</c>,
/// fields req and tok, expiring after two minutes), checked and incremented atomically by a Lua script. While Redis
/// is unreachable the in-process limiter takes over, so limits still hold per replica.
/// </summary>
public sealed class RedisRateLimiter(RedisStore store, MemoryRateLimiter fallback, TimeProvider? time = null) : IRateLimiter
{
    private const string AcquireScript = """
        local req = tonumber(redis.call('HGET', KEYS[1], 'req') or '0')
        local tok = tonumber(redis.call('HGET', KEYS[1], 'tok') or '0')
        if tonumber(ARGV[1]) > 0 and req >= tonumber(ARGV[1]) then return 1 end
        if tonumber(ARGV[2]) > 0 and tok >= tonumber(ARGV[2]) then return 2 end
        redis.call('HINCRBY', KEYS[1], 'req', 1)
        redis.call('EXPIRE', KEYS[1], 120)
        return 0
        """;

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public async ValueTask<RateLimitDecision> AcquireAsync(string key, RateLimit limit, CancellationToken cancellationToken = default)
    {
        if (limit.IsUnlimited) return RateLimitDecision.Allow;
        var now = _time.GetUtcNow();
        var windowKey = WindowKey(key, now);
        var result = await store.TryAsync("rate limit",
            async db => (int)await db.ScriptEvaluateAsync(AcquireScript, [windowKey], [limit.RequestsPerMinute, limit.TokensPerMinute]).ConfigureAwait(false),
            -1).ConfigureAwait(false);
        if (result < 0) return await fallback.AcquireAsync(key, limit, cancellationToken).ConfigureAwait(false);
        if (result == 0) return RateLimitDecision.Allow;
        var retry = TimeSpan.FromSeconds(60 - now.ToUnixTimeSeconds() % 60);
        return new RateLimitDecision(false, retry, result == 1
            ? $"Rate limit reached: {limit.RequestsPerMinute} requests per minute."
            : $"Rate limit reached: {limit.TokensPerMinute} tokens per minute.");
    }

    public async ValueTask RecordTokensAsync(string key, int tokens, CancellationToken cancellationToken = default)
    {
        var windowKey = WindowKey(key, _time.GetUtcNow());
        var ok = await store.TryAsync("rate limit tokens", async db =>
        {
            await db.HashIncrementAsync(windowKey, "tok", tokens).ConfigureAwait(false);
            await db.KeyExpireAsync(windowKey, TimeSpan.FromSeconds(120)).ConfigureAwait(false);
            return true;
        }, false).ConfigureAwait(false);
        if (!ok) await fallback.RecordTokensAsync(key, tokens, cancellationToken).ConfigureAwait(false);
    }

    // The API key itself never goes to Redis: only a hash of it.
    private RedisKey WindowKey(string key, DateTimeOffset now) =>
        store.Key($"ratelimit:{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..24]}:{now.ToUnixTimeSeconds() / 60}");
}
