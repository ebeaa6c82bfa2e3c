using Microsoft.Extensions.DependencyInjection;
using Serve.Cluster;
using Serve.Server.Hosting;

namespace Serve.Server.Tests;

/// <summary>Issue 16: one Redis connection per process, shared by the cache, registry, limits and the heartbeat.</summary>
[Collection(ServerCollection.Name)]
public sealed class SharedRedisConnectionTests(ServerFixture fixture)
{
    [Fact]
    public async Task Heartbeat_RegistersThroughTheServersOwnRedisConnection()
    {
        using var redis = new RedisServer();
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null, new Dictionary<string, string?>
        {
            ["Serve:Redis"] = redis.ConnectionString,
            ["Serve:Cluster:ReplicaId"] = "shared-connection",
        });
        var state = server.App.Services.GetRequiredService<SharedState>();
        var heartbeat = server.App.Services.GetRequiredService<ReplicaHeartbeatService>();
        var key = new ReplicaKeys().Replica("shared-connection");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await state.Store!.Database.KeyExistsAsync(key) && DateTime.UtcNow < deadline) await Task.Delay(20);

        Assert.True(await state.Store.Database.KeyExistsAsync(key), "the replica never registered");
        Assert.Equal("shared-connection", heartbeat.Record?.Id);
        Assert.False(heartbeat.OwnsConnection);
        Assert.Same(state.Store.Connection, server.App.Services.GetRequiredService<IRedisConnectionSource>().For(redis.ConnectionString));
        // A Redis the process has no connection to gets none from the source (the heartbeat would open its own).
        Assert.Null(state.For("127.0.0.1:1"));
    }
}
