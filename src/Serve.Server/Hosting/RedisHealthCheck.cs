using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Serve.Server.Hosting;

/// <summary>
/// Degraded (still HTTP 200: the replica serves) while Redis is unreachable; healthy again as soon as it answers.
/// A single node without Redis is healthy.
/// </summary>
internal sealed class RedisHealthCheck(SharedState state) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (state.Store is not { } store) return Task.FromResult(HealthCheckResult.Healthy("single node: no Serve:Redis"));
        return Task.FromResult(store.IsHealthy
            ? HealthCheckResult.Healthy("Redis connected")
            : HealthCheckResult.Degraded("Redis unreachable: response cache bypassed, local registry and per-replica limits"));
    }
}
