using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using IServer = Microsoft.AspNetCore.Hosting.Server.IServer;

namespace Serve.Cluster;

/// <summary>
/// Registers this replica with the gateway through Redis: beats every <see cref="ClusterOptions.HeartbeatInterval"/>
/// while the replica is ready (health checks tagged "ready", when health checks are registered), deregisters while
/// it is not and on shutdown. Redis being down only delays registration; it never stops the replica.
/// </summary>
public sealed class ReplicaHeartbeatService : BackgroundService
{
    public const string ReadyTag = "ready";

    private readonly ClusterOptions _options;
    private readonly IServer _server;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly HealthCheckService? _health;
    private readonly ILogger<ReplicaHeartbeatService> _logger;
    private readonly IRedisConnectionSource? _connections;
    private ConnectionMultiplexer? _ownConnection;
    private ReplicaHeartbeat? _heartbeat;

    public ReplicaHeartbeatService(IOptions<ClusterOptions> options, IServer server, IHostApplicationLifetime lifetime,
        ILogger<ReplicaHeartbeatService> logger, HealthCheckService? health = null, IRedisConnectionSource? connections = null)
    {
        _connections = connections;
        _options = options.Value;
        _server = server;
        _lifetime = lifetime;
        _logger = logger;
        _health = health;
    }

    /// <summary>Whether the heartbeat opened a connection of its own (false when it shares the process's).</summary>
    public bool OwnsConnection => _ownConnection is not null;

    /// <summary>The record being published, once the server has started listening.</summary>
    public ReplicaRecord? Record => _heartbeat?.Record;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (string.IsNullOrWhiteSpace(_options.Redis)) return;
        // The listening address is only known once Kestrel has started.
        if (!await WaitForStartAsync(stoppingToken).ConfigureAwait(false)) return;

        var record = new ReplicaRecord(ReplicaId(), AdvertisedUrl(), DateTimeOffset.UtcNow);
        var connection = _connections?.For(_options.Redis);
        if (connection is null)
        {
            // Serve:Cluster:Redis names a Redis the process has no connection to: the heartbeat's own.
            var configuration = ConfigurationOptions.Parse(_options.Redis);
            configuration.AbortOnConnectFail = false; // Redis may come up after the replica
            connection = _ownConnection = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        }
        _heartbeat = new ReplicaHeartbeat(connection.GetDatabase(), new ReplicaKeys(_options.KeyPrefix), record);
        _logger.LogInformation("Registering replica {Id} at {Url} in Redis every {Interval}", record.Id, record.Url, _options.HeartbeatInterval);

        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        var registered = false;
        var failing = false;
        do
        {
            try
            {
                var ready = await IsReadyAsync(stoppingToken).ConfigureAwait(false);
                if (ready) await _heartbeat.BeatAsync(_options.HeartbeatTtl).ConfigureAwait(false);
                else if (registered) await _heartbeat.RemoveAsync().ConfigureAwait(false);
                if (ready != registered) _logger.LogInformation(ready ? "Replica {Id} is ready: registered" : "Replica {Id} is not ready: deregistered", record.Id);
                registered = ready;
                if (failing) _logger.LogInformation("Heartbeat to Redis restored");
                failing = false;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // Logged once per outage: the gateway keeps its last list and its health checks meanwhile.
                if (!failing) _logger.LogWarning("Heartbeat to Redis failed, retrying every {Interval}: {Message}", _options.HeartbeatInterval, e.Message);
                failing = true;
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_heartbeat is null) return;
        try
        {
            // Best effort: a replica that cannot deregister simply expires after the TTL.
            await _heartbeat.RemoveAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or OperationCanceledException)
        {
            _logger.LogWarning("Could not deregister replica {Id}; it expires in {Ttl}: {Message}", _heartbeat.Record.Id, _options.HeartbeatTtl, e.Message);
        }
    }

    public override void Dispose()
    {
        _ownConnection?.Dispose();
        base.Dispose();
    }

    private async Task<bool> WaitForStartAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onStarted = _lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        using var onStopping = stoppingToken.Register(() => started.TrySetCanceled(stoppingToken));
        try
        {
            await started.Task.ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task<bool> IsReadyAsync(CancellationToken cancellationToken)
    {
        if (_health is null) return true;
        var report = await _health.CheckHealthAsync(c => c.Tags.Contains(ReadyTag), cancellationToken).ConfigureAwait(false);
        return report.Status != HealthStatus.Unhealthy;
    }

    private string ListeningAddress() =>
        _server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
        ?? throw new InvalidOperationException("The server reports no listening address; set Serve:Cluster:AdvertisedUrl.");

    private string ReplicaId()
    {
        if (!string.IsNullOrWhiteSpace(_options.ReplicaId)) return _options.ReplicaId;
        return $"{Environment.MachineName}-{new Uri(ListeningAddress().Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal)).Port}";
    }

    private string AdvertisedUrl()
    {
        if (!string.IsNullOrWhiteSpace(_options.AdvertisedUrl)) return _options.AdvertisedUrl.TrimEnd('/');
        var address = new UriBuilder(ListeningAddress().Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal));
        // A wildcard listener is not an address another host can call; the machine name is the best guess.
        if (address.Host is "0.0.0.0" or "[::]" or "::") address.Host = Environment.MachineName;
        return address.Uri.ToString().TrimEnd('/');
    }
}
