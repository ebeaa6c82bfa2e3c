using Serve.Cluster;
using StackExchange.Redis;

namespace Serve.Cluster.Tests;

/// <summary>The heartbeat format against a real redis-server: beats list a replica, expiry and removal drop it.</summary>
public sealed class HeartbeatTests : IDisposable
{
    private readonly RedisServer _redis = new();
    private readonly ConnectionMultiplexer _connection;

    public HeartbeatTests() => _connection = ConnectionMultiplexer.Connect(_redis.ConnectionString);

    private IDatabase Database => _connection.GetDatabase();

    [Fact]
    public async Task Beat_ListsReplica_WithTtl_AndLayoutAsDocumented()
    {
        var keys = new ReplicaKeys("serve:");
        var heartbeat = new ReplicaHeartbeat(Database, keys, new ReplicaRecord("replica-1", "http://10.0.0.5:8080", DateTimeOffset.UtcNow));
        await heartbeat.BeatAsync(TimeSpan.FromSeconds(10));

        var ttl = await Database.KeyTimeToLiveAsync("serve:replicas:replica-1");
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(10));
        Assert.Equal(RedisType.SortedSet, await Database.KeyTypeAsync("serve:replicas"));
        var score = await Database.SortedSetScoreAsync("serve:replicas", "replica-1");
        Assert.InRange(score!.Value, DateTimeOffset.UtcNow.AddSeconds(8).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.AddSeconds(11).ToUnixTimeMilliseconds());
        var json = (string?)await Database.StringGetAsync("serve:replicas:replica-1");
        Assert.Contains("\"url\":\"http://10.0.0.5:8080\"", json);

        var listed = Assert.Single(await new ReplicaDirectory(Database, keys).ReadAsync());
        Assert.Equal(("replica-1", "http://10.0.0.5:8080"), (listed.Id, listed.Url));
    }

    [Fact]
    public async Task Beat_Stops_ReplicaExpires()
    {
        var keys = new ReplicaKeys("t1:");
        var directory = new ReplicaDirectory(Database, keys);
        await new ReplicaHeartbeat(Database, keys, new ReplicaRecord("a", "http://127.0.0.1:1", DateTimeOffset.UtcNow)).BeatAsync(TimeSpan.FromMilliseconds(300));
        await new ReplicaHeartbeat(Database, keys, new ReplicaRecord("b", "http://127.0.0.1:2", DateTimeOffset.UtcNow)).BeatAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["a", "b"], (await directory.ReadAsync()).Select(r => r.Id));
        await Task.Delay(600);
        Assert.Equal(["b"], (await directory.ReadAsync()).Select(r => r.Id));
    }

    [Fact]
    public async Task Remove_DropsReplicaAtOnce()
    {
        var keys = new ReplicaKeys("t2:");
        var heartbeat = new ReplicaHeartbeat(Database, keys, new ReplicaRecord("a", "http://127.0.0.1:1", DateTimeOffset.UtcNow));
        await heartbeat.BeatAsync(TimeSpan.FromSeconds(30));
        await heartbeat.RemoveAsync();
        Assert.Empty(await new ReplicaDirectory(Database, keys).ReadAsync());
        Assert.False(await Database.KeyExistsAsync("t2:replicas"));
    }

    [Fact]
    public async Task Read_IgnoresMalformedOrMismatchedRecords_AndCollectsLongDeadIds()
    {
        var keys = new ReplicaKeys("t3:");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await Database.SortedSetAddAsync("t3:replicas", [new("junk", now + 30_000), new("other", now + 30_000), new("ancient", now - 3_600_000)]);
        await Database.StringSetAsync("t3:replicas:junk", "not json");
        await Database.StringSetAsync("t3:replicas:other", new ReplicaRecord("someone-else", "http://127.0.0.1:3", DateTimeOffset.UtcNow).ToJson());
        Assert.Empty(await new ReplicaDirectory(Database, keys).ReadAsync());
        Assert.Null(await Database.SortedSetScoreAsync("t3:replicas", "ancient"));
    }

    public void Dispose()
    {
        _connection.Dispose();
        _redis.Dispose();
    }
}
