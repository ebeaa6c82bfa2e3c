using Microsoft.Extensions.Options;
using Serve.Cluster;
using Serve.Gateway.Hosting;
using Serve.Gateway.Metrics;
using StackExchange.Redis;

namespace Serve.Gateway.Discovery;

/// <summary>
/// Reads the replica heartbeats from Redis every Gateway:DiscoveryInterval and publishes the live list when it
/// changes. While Redis is unreachable the last list stays: the health checks still drop dead replicas, and a
/// Redis outage must not empty the gateway.
/// </summary>
internal sealed class RedisReplicaDiscovery : BackgroundService
{
    private readonly GatewayOptions _options;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger<RedisReplicaDiscovery> _logger;
    private readonly TaskCompletionSource _firstRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile ReplicaSnapshot _snapshot = new([], new CancellationTokenSource());
    private ConnectionMultiplexer? _connection;

    public RedisReplicaDiscovery(IOptions<GatewayOptions> options, GatewayMetrics metrics, ILogger<RedisReplicaDiscovery> logger)
    {
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
    }

    public ReplicaSnapshot Snapshot => _snapshot;

    /// <summary>Completes after the first read that reached Redis (tests and start-up ordering).</summary>
    public Task FirstRead => _firstRead.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var configuration = ConfigurationOptions.Parse(_options.Redis!);
        configuration.AbortOnConnectFail = false; // Redis may start after the gateway
        _connection = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        var directory = new ReplicaDirectory(_connection.GetDatabase(), new ReplicaKeys(_options.HeartbeatPrefix));
        using var timer = new PeriodicTimer(_options.DiscoveryInterval);
        var failing = false;
        do
        {
            try
            {
                Publish(await directory.ReadAsync().ConfigureAwait(false));
                _firstRead.TrySetResult();
                if (failing) _logger.LogInformation("Reading replica heartbeats from Redis works again");
                failing = false;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                if (!failing) _logger.LogWarning("Cannot read replica heartbeats from Redis; keeping the last {Count} replicas: {Message}", _snapshot.Replicas.Count, e.Message);
                failing = true;
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private void Publish(IReadOnlyList<ReplicaRecord> replicas)
    {
        _metrics.Discovered(replicas.Count);
        var current = _snapshot;
        if (current.Replicas.Select(r => (r.Id, r.Url)).SequenceEqual(replicas.Select(r => (r.Id, r.Url)))) return;
        _logger.LogInformation("Replicas from heartbeats: {Replicas}", replicas.Count == 0 ? "(none)" : string.Join(", ", replicas.Select(r => $"{r.Id}={r.Url}")));
        _snapshot = new ReplicaSnapshot(replicas, new CancellationTokenSource());
        current.Changed.Cancel();
    }

    public override void Dispose()
    {
        _connection?.Dispose();
        base.Dispose();
    }
}
