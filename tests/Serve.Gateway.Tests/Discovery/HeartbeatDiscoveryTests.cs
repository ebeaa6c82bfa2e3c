using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Serve.Cluster;
using Serve.Gateway.Tests.Infrastructure;

namespace Serve.Gateway.Tests.Discovery;

/// <summary>
/// Self-registration end to end: replicas running <see cref="ReplicaHeartbeatService"/> against a real redis-server,
/// and a gateway with no configured destinations that finds them, routes to them, and drops one that stops.
/// </summary>
public sealed class HeartbeatDiscoveryTests
{
    private static Action<WebApplicationBuilder> Registering(RedisServer redis, string id) => builder =>
    {
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Serve:Cluster:Redis"] = redis.ConnectionString,
            ["Serve:Cluster:ReplicaId"] = id,
            ["Serve:Cluster:HeartbeatInterval"] = "00:00:00.200",
            ["Serve:Cluster:HeartbeatTtl"] = "00:00:01",
        });
        builder.Services.AddReplicaHeartbeat();
        builder.Services.AddHealthChecks();
    };

    private static async Task<string?> ReplicaOf(HttpClient client, string model)
    {
        using var response = await client.PostAsync("/v1/echo", new StringContent($$"""{"model":"{{model}}"}""", Encoding.UTF8, "application/json"));
        return response.StatusCode == HttpStatusCode.OK ? (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("replica").GetString() : null;
    }

    private static async Task<T> WaitForAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan limit)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var value = await probe();
            if (done(value) || clock.Elapsed > limit) return value;
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Gateway_FindsReplicasByHeartbeat_AndDropsOneThatStops()
    {
        using var redis = new RedisServer();
        await using var r1 = await FakeReplica.StartAsync("hb-1", Registering(redis, "hb-1"));
        var r2 = await FakeReplica.StartAsync("hb-2", Registering(redis, "hb-2"));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri>(), new Dictionary<string, string?>
        {
            ["Gateway:Redis"] = redis.ConnectionString,
            ["Gateway:DiscoveryInterval"] = "00:00:00.200",
            ["ReverseProxy:Clusters:replicas:HealthCheck:Active:Enabled"] = "false",
        });
        using var client = gateway.Client();

        // Both replicas appear: requests for many adapters reach both of them.
        var seen = await WaitForAsync(async () =>
        {
            var replicas = new HashSet<string?>();
            foreach (var model in Enumerable.Range(0, 16).Select(i => $"m{i}")) replicas.Add(await ReplicaOf(client, model));
            return replicas;
        }, s => s.SetEquals(["hb-1", "hb-2"]), TimeSpan.FromSeconds(15));
        Assert.Equal(["hb-1", "hb-2"], seen.Order());
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("serve_gateway_discovered_replicas 2", metrics);

        // A clean stop deregisters at once; the gateway stops routing there within a discovery interval or two.
        await r2.DisposeAsync();
        seen = await WaitForAsync(async () =>
        {
            var replicas = new HashSet<string?>();
            foreach (var model in Enumerable.Range(0, 16).Select(i => $"m{i}")) replicas.Add(await ReplicaOf(client, model));
            return replicas;
        }, s => s.SetEquals(["hb-1"]), TimeSpan.FromSeconds(15));
        Assert.Equal(["hb-1"], seen);
    }

    [Fact]
    public async Task Heartbeat_NotReady_IsNotRegistered()
    {
        using var redis = new RedisServer();
        var ready = false;
        await using var replica = await FakeReplica.StartAsync("hb-3", builder =>
        {
            Registering(redis, "hb-3")(builder);
            builder.Services.AddHealthChecks().AddCheck("engine", () => ready
                ? Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy()
                : Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Unhealthy(), tags: [ReplicaHeartbeatService.ReadyTag]);
        });
        using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var directory = new ReplicaDirectory(connection.GetDatabase(), new ReplicaKeys());
        await Task.Delay(600);
        Assert.Empty(await directory.ReadAsync());
        ready = true;
        var listed = await WaitForAsync(directory.ReadAsync, l => l.Count == 1, TimeSpan.FromSeconds(5));
        Assert.Equal(replica.Address.ToString().TrimEnd('/'), Assert.Single(listed).Url);
    }
}
