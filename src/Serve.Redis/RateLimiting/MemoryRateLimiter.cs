namespace Serve.Redis.RateLimiting;

/// <summary>The single-node limiter: fixed one-minute windows per key, in process. Also the fallback while Redis is down.</summary>
public sealed class MemoryRateLimiter(TimeProvider? time = null) : IRateLimiter
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public ValueTask<RateLimitDecision> AcquireAsync(string key, RateLimit limit, CancellationToken cancellationToken = default)
    {
        if (limit.IsUnlimited) return ValueTask.FromResult(RateLimitDecision.Allow);
        var now = _time.GetUtcNow();
        var minute = now.ToUnixTimeSeconds() / 60;
        var retry = TimeSpan.FromSeconds(60 - now.ToUnixTimeSeconds() % 60);
        lock (_gate)
        {
            var w = Current(key, minute);
            if (limit.RequestsPerMinute > 0 && w.Requests >= limit.RequestsPerMinute)
                return ValueTask.FromResult(new RateLimitDecision(false, retry, $"Rate limit reached: {limit.RequestsPerMinute} requests per minute."));
            if (limit.TokensPerMinute > 0 && w.Tokens >= limit.TokensPerMinute)
                return ValueTask.FromResult(new RateLimitDecision(false, retry, $"Rate limit reached: {limit.TokensPerMinute} tokens per minute."));
            w.Requests++;
            return ValueTask.FromResult(RateLimitDecision.Allow);
        }
    }

    public ValueTask RecordTokensAsync(string key, int tokens, CancellationToken cancellationToken = default)
    {
        var minute = _time.GetUtcNow().ToUnixTimeSeconds() / 60;
        lock (_gate) Current(key, minute).Tokens += tokens;
        return ValueTask.CompletedTask;
    }

    private Window Current(string key, long minute)
    {
        if (!_windows.TryGetValue(key, out var w) || w.Minute != minute)
        {
            if (_windows.Count > 100_000) _windows.Clear(); // forget stale windows of many idle keys
            _windows[key] = w = new Window { Minute = minute };
        }
        return w;
    }

    private sealed class Window
    {
        public long Minute;
        public long Requests;
        public long Tokens;
    }
}
