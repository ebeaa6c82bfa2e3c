using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Prometheus;
using Serve.Gateway.Discovery;
using Serve.Gateway.Forwarding;
using Serve.Gateway.LoadBalancing;
using Serve.Gateway.Metrics;
using Serve.Gateway.Routing;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;

namespace Serve.Gateway.Hosting;

/// <summary>
/// Builds the gateway: YARP from the "ReverseProxy" section (plus replicas from Redis heartbeats when Gateway:Redis
/// is set), the AdapterAffinity policy, the proxy pipeline, health and metrics. Program.cs and the tests both use it.
/// </summary>
public static class GatewayApplication
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null, WebApplicationOptions? options = null)
    {
        var builder = WebApplication.CreateBuilder(options ?? new WebApplicationOptions { Args = args });
        if (options is not null) builder.Configuration.AddCommandLine(args);
        configure?.Invoke(builder);

        var services = builder.Services;
        services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<ILoadBalancingPolicy, AdapterAffinityPolicy>();
        var proxy = services.AddReverseProxy().LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"));
        if (!string.IsNullOrWhiteSpace(builder.Configuration[$"{GatewayOptions.Section}:{nameof(GatewayOptions.Redis)}"]))
        {
            services.AddSingleton<RedisReplicaDiscovery>();
            services.AddHostedService(sp => sp.GetRequiredService<RedisReplicaDiscovery>());
            services.AddSingleton<IProxyConfigProvider, HeartbeatConfigProvider>();
            proxy.AddConfigFilter<HeartbeatDestinationsFilter>();
        }
        services.AddHealthChecks().AddCheck<ReplicasHealthCheck>("replicas", tags: ["ready"]);

        var app = builder.Build();
        app.MapReverseProxy(pipeline =>
        {
            pipeline.UseMiddleware<RoutingKeyMiddleware>();
            pipeline.UseMiddleware<ConnectRetryMiddleware>();
            pipeline.UseLoadBalancing();
            pipeline.UseMiddleware<RoutingObserverMiddleware>();
            pipeline.UsePassiveHealthChecks();
        });
        app.MapHealthChecks("/healthz/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/healthz/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });
        app.MapMetrics("/metrics", app.Services.GetRequiredService<GatewayMetrics>().Registry);
        app.MapFallback(context => GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound,
            $"Unknown path {context.Request.Path}: the gateway serves /v1/... (forwarded to the replicas), /healthz/live, /healthz/ready and /metrics.",
            GatewayErrors.InvalidRequest, "unknown_url"));
        return app;
    }
}
