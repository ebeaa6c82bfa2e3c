using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Serve.Server.Hosting;

/// <summary>Ready once the base model is loaded and the scheduler runs.</summary>
internal sealed class EngineReadyHealthCheck(EngineHost host) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (host.Engine is { } engine && engine.Status.Ready)
            return Task.FromResult(HealthCheckResult.Healthy($"{engine.BaseModel.Name} loaded"));
        return Task.FromResult(host.LoadError is { } error
            ? HealthCheckResult.Unhealthy("The base model failed to load: " + error.Message)
            : HealthCheckResult.Unhealthy("The base model is loading."));
    }
}
