using Microsoft.Extensions.Diagnostics.HealthChecks;
using Yarp.ReverseProxy;

namespace Serve.Gateway.Hosting;

/// <summary>The gateway is ready when at least one replica is routable; otherwise every /v1 call would be a 503.</summary>
internal sealed class ReplicasHealthCheck : IHealthCheck
{
    private readonly IProxyStateLookup _proxyState;

    public ReplicasHealthCheck(IProxyStateLookup proxyState) => _proxyState = proxyState;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var available = _proxyState.GetClusters().Sum(c => c.DestinationsState?.AvailableDestinations.Count ?? 0);
        return Task.FromResult(available > 0
            ? HealthCheckResult.Healthy($"{available} replica(s) available")
            : HealthCheckResult.Unhealthy("no replica is available"));
    }
}
