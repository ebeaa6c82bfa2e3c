using Microsoft.Extensions.Options;
using Serve.Cluster;
using Serve.Engine;
using Serve.Redis;
using Serve.Redis.Caching;
using Serve.Redis.RateLimiting;
using Serve.Redis.Registry;
using Serve.Server.Caching;
using StackExchange.Redis;

namespace Serve.Server.Hosting;

/// <summary>
/// The state a replica shares with the others, or its single-node stand-ins: the response cache (memory level,
/// plus Redis when configured), the rate limiter (Redis counters with the in-process limiter as fallback) and the
/// shared adapter registry with its sync. Nothing here waits for Redis: a dead Redis degrades, it never stops.
/// Its one connection is also the heartbeat's (<see cref="IRedisConnectionSource"/>): one Redis connection per process.
/// </summary>
internal sealed class SharedState : IAsyncDisposable, IRedisConnectionSource
{
    private readonly ILoggerFactory _loggers;
    private readonly SharedStateOptions _options;
    private AdapterRegistrySync? _sync;

    public SharedState(IOptions<SharedStateOptions> options, IOptions<ResponseCacheOptions> cacheOptions, ILoggerFactory loggers)
    {
        _loggers = loggers;
        _options = options.Value;
        var cache = cacheOptions.Value;
        var local = new MemoryResponseCache(cache.MaxMemoryBytes);
        var fallback = new MemoryRateLimiter();
        if (string.IsNullOrWhiteSpace(_options.Redis))
        {
            Cache = local;
            Limiter = fallback;
            return;
        }
        // Connecting does not wait for Redis to answer (AbortOnConnectFail is off): a replica may start before Redis.
        Store = RedisStore.Connect(_options.Redis, loggers.CreateLogger<RedisStore>(), _options.RedisKeyPrefix);
        var shared = new RedisResponseCache(Store, cache.MaxEntryBytes, loggers.CreateLogger<RedisResponseCache>());
        var localTtl = cache.LocalTimeToLive < cache.TimeToLive ? cache.LocalTimeToLive : cache.TimeToLive;
        Cache = new TieredResponseCache(local, new BypassWhileDown(Store, shared), localTtl);
        Limiter = new RedisRateLimiter(Store, fallback);
        Registry = new RedisAdapterRegistry(Store, _options.RegistryMaxBlobBytes);
    }

    /// <summary>The shared connection when connectionString is the one Serve:Redis names (the heartbeat's default).</summary>
    public IConnectionMultiplexer? For(string connectionString) =>
        Store is not null && string.Equals(connectionString.Trim(), _options.Redis?.Trim(), StringComparison.Ordinal) ? Store.Connection : null;

    /// <summary>The Redis connection; null on a single node.</summary>
    public RedisStore? Store { get; }

    public IResponseCache Cache { get; }
    public IRateLimiter Limiter { get; }

    /// <summary>The shared registry; null on a single node.</summary>
    public RedisAdapterRegistry? Registry { get; }

    /// <summary>The sync of this replica's catalog with the registry, once the engine is loaded.</summary>
    public AdapterRegistrySync? Sync => Volatile.Read(ref _sync);

    /// <summary>Subscribes to registry events and catches up (called once the engine is loaded).</summary>
    public async Task StartSyncAsync(InferenceEngine engine)
    {
        if (Store is null || Registry is null) return;
        var sync = new AdapterRegistrySync(Store, Registry, engine, _loggers.CreateLogger<AdapterRegistrySync>(), _options.RegistryResyncInterval);
        await sync.StartAsync().ConfigureAwait(false);
        Volatile.Write(ref _sync, sync);
    }

    public async Task StopSyncAsync()
    {
        if (Interlocked.Exchange(ref _sync, null) is { } sync) await sync.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopSyncAsync().ConfigureAwait(false);
        if (Store is not null) await Store.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Skips the Redis level outright while the connection is down, so an outage adds no latency to a lookup.</summary>
    private sealed class BypassWhileDown(RedisStore store, IResponseCache shared) : IResponseCache
    {
        public ValueTask<CachedResponse?> GetAsync(string key, CancellationToken cancellationToken = default) =>
            store.Connection.IsConnected ? shared.GetAsync(key, cancellationToken) : ValueTask.FromResult<CachedResponse?>(null);

        public ValueTask SetAsync(string key, CachedResponse response, TimeSpan timeToLive, CancellationToken cancellationToken = default) =>
            store.Connection.IsConnected ? shared.SetAsync(key, response, timeToLive, cancellationToken) : ValueTask.CompletedTask;
    }
}

/// <summary>Starts the registry sync when the engine is ready and stops it with the host.</summary>
internal sealed class SharedStateService(SharedState state, EngineHost host, ILogger<SharedStateService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (state.Store is null) return;
        InferenceEngine engine;
        try
        {
            engine = await host.Ready.WaitAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return; // EngineHost reports the load failure and stops the application
        }
        await state.StartSyncAsync(engine).ConfigureAwait(false);
        logger.LogInformation("Shared adapter registry sync started (Redis {Connected})", state.Store.IsHealthy ? "connected" : "not reachable yet");
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await state.StopSyncAsync().ConfigureAwait(false);
    }
}
