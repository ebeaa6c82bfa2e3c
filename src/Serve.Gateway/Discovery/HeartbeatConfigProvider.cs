using Yarp.ReverseProxy.Configuration;

namespace Serve.Gateway.Discovery;

/// <summary>
/// A second YARP config source next to the "ReverseProxy" section. It adds no routes or clusters itself; its change
/// token fires when the heartbeat list changes, and on every reload YARP runs <see cref="HeartbeatDestinationsFilter"/>
/// over all clusters, which merges the listed replicas into the replica cluster.
/// </summary>
internal sealed class HeartbeatConfigProvider : IProxyConfigProvider
{
    private readonly RedisReplicaDiscovery _discovery;

    public HeartbeatConfigProvider(RedisReplicaDiscovery discovery) => _discovery = discovery;

    public IProxyConfig GetConfig() => new HeartbeatProxyConfig(_discovery.Snapshot.Changed.Token);
}
