using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serve.Gateway.Hosting;
using Serve.Gateway.Metrics;

namespace Serve.Gateway.Tests.Infrastructure;

/// <summary>
/// The real gateway (GatewayApplication, Kestrel on a free loopback port) over the given replicas, configured
/// entirely in memory: a cluster "replicas" with the AdapterAffinity policy and a route /v1/{**rest}.
/// </summary>
public sealed class TestGateway : IAsyncDisposable
{
    private TestGateway(WebApplication app, Uri address)
    {
        App = app;
        Address = address;
    }

    public WebApplication App { get; }
    public Uri Address { get; }
    public GatewayMetrics Metrics => App.Services.GetRequiredService<GatewayMetrics>();

    public HttpClient Client(TimeSpan? timeout = null) => new() { BaseAddress = Address, Timeout = timeout ?? TimeSpan.FromSeconds(60) };

    /// <summary>replicas: destination id → base URL. settings override anything (keys as in appsettings.json).</summary>
    public static async Task<TestGateway> StartAsync(IReadOnlyDictionary<string, Uri> replicas, IDictionary<string, string?>? settings = null)
    {
        const string cluster = "ReverseProxy:Clusters:replicas:";
        var values = new Dictionary<string, string?>
        {
            ["ReverseProxy:Routes:openai:ClusterId"] = "replicas",
            ["ReverseProxy:Routes:openai:Match:Path"] = "/v1/{**rest}",
            [cluster + "LoadBalancingPolicy"] = "AdapterAffinity",
            [cluster + "HealthCheck:Active:Enabled"] = "true",
            [cluster + "HealthCheck:Active:Interval"] = "00:00:01",
            [cluster + "HealthCheck:Active:Timeout"] = "00:00:01",
            [cluster + "HealthCheck:Active:Policy"] = "ConsecutiveFailures",
            [cluster + "HealthCheck:Active:Path"] = "/healthz/ready",
            [cluster + "HealthCheck:Passive:Enabled"] = "true",
            [cluster + "HealthCheck:Passive:Policy"] = "TransportFailureRate",
            [cluster + "HealthCheck:Passive:ReactivationPeriod"] = "00:00:10",
            // YARP's default (HealthyOrPanic) would send to unhealthy replicas when none is healthy; we answer 503.
            [cluster + "HealthCheck:AvailableDestinationsPolicy"] = "HealthyAndUnknown",
            [cluster + "Metadata:ConsecutiveFailuresHealthPolicy.Threshold"] = "1",
            [cluster + "HttpRequest:ActivityTimeout"] = "00:02:00",
        };
        foreach (var (id, url) in replicas) values[cluster + $"Destinations:{id}:Address"] = url.ToString();
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) values[key] = value;

        // An empty content root: no appsettings.json from any referenced project leaks into the test's settings.
        var root = Directory.CreateTempSubdirectory("serve-gateway-root-").FullName;
        var app = GatewayApplication.Build(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Configuration.AddInMemoryCollection(values);
            builder.Logging.ClearProviders();
            builder.Logging.AddFilter("Serve", LogLevel.Warning);
            if (Environment.GetEnvironmentVariable("SERVE_GATEWAY_TEST_LOG") == "1") builder.Logging.AddConsole();
        }, new WebApplicationOptions { ContentRootPath = root });
        await app.StartAsync();
        return new TestGateway(app, new Uri(app.Urls.First()));
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
