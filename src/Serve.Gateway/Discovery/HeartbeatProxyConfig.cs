using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace Serve.Gateway.Discovery;

/// <summary>An empty proxy config whose change token is the heartbeat list's: it only makes YARP reload.</summary>
internal sealed class HeartbeatProxyConfig : IProxyConfig
{
    public HeartbeatProxyConfig(CancellationToken changed) => ChangeToken = new CancellationChangeToken(changed);

    public IReadOnlyList<RouteConfig> Routes => [];
    public IReadOnlyList<ClusterConfig> Clusters => [];
    public IChangeToken ChangeToken { get; }
}
