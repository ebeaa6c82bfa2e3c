using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Serve.Redis.Caching;
using Serve.Redis.RateLimiting;

namespace Serve.Redis.Tests;

public sealed class RedisCacheTests : IDisposable
{
    private readonly RedisServer _redis = new();
    private readonly TestLog _log = new();

    [Fact]
    public async Task SetThenGet_IsByteIdentical_AndCorruptValuesAreDiscarded()
    {
        await using var store = await RedisStore.ConnectAsync(_redis.ConnectionString, _log.For<RedisStore>());
        var cache = new RedisResponseCache(store, 1 << 20, _log.For<RedisResponseCache>());
        var body = Encoding.UTF8.GetBytes("{\"id\":\"chatcmpl-1\",\"choices\":[]}");
        await cache.SetAsync("k1", new CachedResponse("application/json", body, DateTimeOffset.UtcNow), TimeSpan.FromMinutes(5));
        var hit = await cache.GetAsync("k1");
        Assert.Equal(body, hit!.Body);

        // A partially written or foreign value is never served, and is removed.
        var full = new CachedResponse("application/json", body, DateTimeOffset.UtcNow).Serialize();
        await store.Database.StringSetAsync(store.Key("cache:k2"), full[..(full.Length / 2)]);
        Assert.Null(await cache.GetAsync("k2"));
        Assert.False(await store.Database.KeyExistsAsync(store.Key("cache:k2")));
        Assert.Equal(1, _log.Count(LogLevel.Warning, "corrupt response cache entry"));
    }

    [Fact]
    public async Task Tiered_SharedHitFillsTheLocalLevel()
    {
        await using var store = await RedisStore.ConnectAsync(_redis.ConnectionString, _log.For<RedisStore>());
        var shared = new RedisResponseCache(store, 1 << 20, _log.For<RedisResponseCache>());
        var replicaA = new TieredResponseCache(new MemoryResponseCache(1 << 20), shared, TimeSpan.FromMinutes(1));
        var localB = new MemoryResponseCache(1 << 20);
        var replicaB = new TieredResponseCache(localB, shared, TimeSpan.FromMinutes(1));
        await replicaA.SetAsync("k", new CachedResponse("application/json", [1, 2, 3], DateTimeOffset.UtcNow), TimeSpan.FromMinutes(5));
        Assert.Equal(0, localB.Count);
        Assert.Equal([1, 2, 3], (await replicaB.GetAsync("k"))!.Body);
        Assert.Equal(1, localB.Count);
    }

    [Fact]
    public async Task RedisKilled_CacheMissesAndLimiterFallsBack_LoggedOnce_ThenResumesWhenBack()
    {
        await using var store = await RedisStore.ConnectAsync(_redis.ConnectionString + ",connectRetry=1", _log.For<RedisStore>());
        var cache = new RedisResponseCache(store, 1 << 20, _log.For<RedisResponseCache>());
        var limiter = new RedisRateLimiter(store, new MemoryRateLimiter());
        await cache.SetAsync("k", new CachedResponse("application/json", [1], DateTimeOffset.UtcNow), TimeSpan.FromMinutes(5));
        Assert.True(store.IsHealthy);

        _redis.Kill();
        for (var i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            Assert.Null(await cache.GetAsync("k"));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"a miss took {clock.Elapsed}");
            Assert.True((await limiter.AcquireAsync("key", new RateLimit(100, 0))).Allowed);
        }
        Assert.False(store.IsHealthy);
        Assert.Equal(1, _log.Count(LogLevel.Warning, "Redis unavailable"));

        _redis.Start(); // same port, empty data (no persistence)
        await WaitUntil(async () =>
        {
            await cache.SetAsync("k2", new CachedResponse("application/json", [2], DateTimeOffset.UtcNow), TimeSpan.FromMinutes(5));
            return await cache.GetAsync("k2") is not null;
        });
        Assert.True(store.IsHealthy);
    }

    [Fact]
    public async Task RateLimit_IsSharedAcrossTwoConnections()
    {
        await using var a = await RedisStore.ConnectAsync(_redis.ConnectionString, _log.For<RedisStore>());
        await using var b = await RedisStore.ConnectAsync(_redis.ConnectionString, _log.For<RedisStore>());
        // Both replicas see the same fixed moment, 30 s into a minute, so the window cannot roll over mid-test.
        var time = new FixedTime(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60 + 30));
        var limitA = new RedisRateLimiter(a, new MemoryRateLimiter(), time);
        var limitB = new RedisRateLimiter(b, new MemoryRateLimiter(), time);
        var limit = new RateLimit(RequestsPerMinute: 6, TokensPerMinute: 0);
        var allowed = 0;
        for (var i = 0; i < 10; i++)
        {
            if ((await (i % 2 == 0 ? limitA : limitB).AcquireAsync("team-key", limit)).Allowed) allowed++;
        }
        Assert.Equal(6, allowed);
        var refused = await limitB.AcquireAsync("team-key", limit);
        Assert.False(refused.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(30), refused.RetryAfter);
        Assert.Contains("6 requests per minute", refused.Reason);
        Assert.True((await limitA.AcquireAsync("other-key", limit)).Allowed);

        var tokens = new RateLimit(0, TokensPerMinute: 100);
        Assert.True((await limitA.AcquireAsync("tok-key", tokens)).Allowed);
        await limitA.RecordTokensAsync("tok-key", 150);
        var overTokens = await limitB.AcquireAsync("tok-key", tokens);
        Assert.False(overTokens.Allowed);
        Assert.Contains("100 tokens per minute", overTokens.Reason);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    internal static async Task WaitUntil(Func<Task<bool>> condition, int timeoutMs = 15000)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.ElapsedMilliseconds > timeoutMs) throw new TimeoutException("condition not reached");
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        _redis.Dispose();
        _log.Dispose();
    }
}
