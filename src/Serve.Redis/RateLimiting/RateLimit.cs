namespace Serve.Redis.RateLimiting;

/// <summary>Per-key limits per minute; 0 means unlimited.</summary>
public sealed record RateLimit(int RequestsPerMinute, int TokensPerMinute)
{
    public bool IsUnlimited => RequestsPerMinute <= 0 && TokensPerMinute <= 0;
}

/// <summary>Allowed, or refused with how long to wait.</summary>
public readonly record struct RateLimitDecision(bool Allowed, TimeSpan RetryAfter, string? Reason)
{
    public static RateLimitDecision Allow { get; } = new(true, TimeSpan.Zero, null);
}
