using Microsoft.Extensions.Options;
using Serve.Gateway.Hosting;
using Yarp.ReverseProxy.Configuration;

namespace Serve.Gateway.Discovery;

/// <summary>
/// Adds the replicas listed by heartbeats to Gateway:ReplicaCluster, keyed by replica id, so they get the
/// cluster's policy and health checks. A destination with the same id in configuration wins.
/// </summary>
internal sealed class HeartbeatDestinationsFilter : IProxyConfigFilter
{
    private readonly RedisReplicaDiscovery _discovery;
    private readonly IOptionsMonitor<GatewayOptions> _options;

    public HeartbeatDestinationsFilter(RedisReplicaDiscovery discovery, IOptionsMonitor<GatewayOptions> options)
    {
        _discovery = discovery;
        _options = options;
    }

    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel)
    {
        var replicas = _discovery.Snapshot.Replicas;
        if (replicas.Count == 0 || !string.Equals(cluster.ClusterId, _options.CurrentValue.ReplicaCluster, StringComparison.OrdinalIgnoreCase))
            return ValueTask.FromResult(cluster);
        var destinations = new Dictionary<string, DestinationConfig>(cluster.Destinations ?? new Dictionary<string, DestinationConfig>(), StringComparer.OrdinalIgnoreCase);
        foreach (var replica in replicas)
            destinations.TryAdd(replica.Id, new DestinationConfig { Address = replica.Url });
        return ValueTask.FromResult(cluster with { Destinations = destinations });
    }

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel) => ValueTask.FromResult(route);
}
