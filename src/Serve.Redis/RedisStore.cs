using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Serve.Redis;

/// <summary>
/// The replica's one Redis connection. It never blocks start-up or requests on Redis: the connection retries in
/// the background, every operation goes through <see cref="TryAsync{T}"/> which turns Redis failures into a
/// fallback value, and the first failure of an outage is logged once (with the recovery when it ends), so a dead
/// Redis degrades the replica instead of killing it.
/// </summary>
public sealed class RedisStore : IAsyncDisposable
{
    private readonly ILogger _logger;
    private int _degraded;

    private RedisStore(ConnectionMultiplexer connection, string prefix, ILogger logger)
    {
        Connection = connection;
        Prefix = prefix;
        _logger = logger;
        connection.ConnectionFailed += (_, e) => MarkDegraded(e.Exception?.Message ?? e.FailureType.ToString());
        connection.ConnectionRestored += (_, _) => MarkHealthy();
    }

    /// <summary>Connects (without waiting for Redis to be up). Keys are prefixed with prefix (default "serve:").</summary>
    public static async Task<RedisStore> ConnectAsync(string connectionString, ILogger logger, string prefix = "serve:")
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(Options(connectionString)).ConfigureAwait(false);
        return Wrap(connection, prefix, logger);
    }

    /// <summary>
    /// As ConnectAsync, for a constructor (a DI singleton): it never waits for Redis to answer (AbortOnConnectFail is
    /// off and the first connect is bounded by connectTimeout), so there is no task to block on.
    /// </summary>
    public static RedisStore Connect(string connectionString, ILogger logger, string prefix = "serve:") =>
        Wrap(ConnectionMultiplexer.Connect(Options(connectionString)), prefix, logger);

    private static ConfigurationOptions Options(string connectionString)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        options.AbortOnConnectFail = false; // keep retrying in the background: Redis may start after us
        // While disconnected, commands fail at once instead of queueing until a timeout: a dead Redis must cost a
        // request nothing (the cache is bypassed), not a second per Redis call.
        options.BacklogPolicy = BacklogPolicy.FailFast;
        // Reconnect attempts at most 2 s apart, so a restarted Redis is picked up within seconds.
        options.ReconnectRetryPolicy = new ExponentialRetry(250, 2000);
        if (!connectionString.Contains("connectTimeout", StringComparison.OrdinalIgnoreCase)) options.ConnectTimeout = 2000;
        if (!connectionString.Contains("syncTimeout", StringComparison.OrdinalIgnoreCase)) options.SyncTimeout = 1000;
        if (!connectionString.Contains("asyncTimeout", StringComparison.OrdinalIgnoreCase)) options.AsyncTimeout = 1000;
        return options;
    }

    private static RedisStore Wrap(ConnectionMultiplexer connection, string prefix, ILogger logger)
    {
        var store = new RedisStore(connection, prefix, logger);
        if (!connection.IsConnected) store.MarkDegraded("not connected yet");
        return store;
    }

    public ConnectionMultiplexer Connection { get; }
    public string Prefix { get; }
    public IDatabase Database => Connection.GetDatabase();

    /// <summary>False while Redis is unreachable (health reports "degraded").</summary>
    public bool IsHealthy => Volatile.Read(ref _degraded) == 0 && Connection.IsConnected;

    public RedisKey Key(string suffix) => Prefix + suffix;
    public RedisChannel Channel(string suffix) => RedisChannel.Literal(Prefix + suffix);

    /// <summary>Runs a Redis operation; on a Redis failure logs (once per outage) and returns fallback.</summary>
    public async Task<T> TryAsync<T>(string what, Func<IDatabase, Task<T>> operation, T fallback)
    {
        try
        {
            var result = await operation(Database).ConfigureAwait(false);
            MarkHealthy();
            return result;
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
        {
            MarkDegraded($"{what}: {e.Message}");
            return fallback;
        }
    }

    private void MarkDegraded(string reason)
    {
        if (Interlocked.Exchange(ref _degraded, 1) == 0)
            _logger.LogWarning("Redis unavailable, running degraded (cache bypassed, local registry and limits): {Reason}", reason);
    }

    private void MarkHealthy()
    {
        if (Connection.IsConnected && Interlocked.Exchange(ref _degraded, 0) == 1)
            _logger.LogInformation("Redis is back; shared cache, registry and limits resumed");
    }

    public async ValueTask DisposeAsync() => await Connection.DisposeAsync().ConfigureAwait(false);
}
