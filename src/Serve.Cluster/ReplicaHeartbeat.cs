using StackExchange.Redis;

namespace Serve.Cluster;

/// <summary>
/// Writes one replica's heartbeat: the record under its own key with a TTL, and its id in the index scored by
/// that expiry. Each beat is one round trip (pipelined), so a replica can beat every few seconds at no cost.
/// </summary>
public sealed class ReplicaHeartbeat
{
    private readonly IDatabase _database;
    private readonly ReplicaKeys _keys;
    private readonly TimeProvider _time;

    public ReplicaHeartbeat(IDatabase database, ReplicaKeys keys, ReplicaRecord record, TimeProvider? time = null)
    {
        _database = database;
        _keys = keys;
        Record = record;
        _time = time ?? TimeProvider.System;
    }

    public ReplicaRecord Record { get; }

    /// <summary>Registers (or refreshes) the replica for ttl from now.</summary>
    public async Task BeatAsync(TimeSpan ttl)
    {
        var expiresAt = _time.GetUtcNow() + ttl;
        var batch = _database.CreateBatch();
        // The key goes first: a reader that sees the id in the index and no key treats the replica as gone.
        var set = batch.StringSetAsync(_keys.Replica(Record.Id), Record.ToJson(), ttl);
        var add = batch.SortedSetAddAsync(_keys.Index, Record.Id, expiresAt.ToUnixTimeMilliseconds());
        batch.Execute();
        await Task.WhenAll(set, add).ConfigureAwait(false);
    }

    /// <summary>Deregisters at once (clean shutdown), so the gateway stops routing here without waiting for the TTL.</summary>
    public async Task RemoveAsync()
    {
        var batch = _database.CreateBatch();
        var delete = batch.KeyDeleteAsync(_keys.Replica(Record.Id));
        var remove = batch.SortedSetRemoveAsync(_keys.Index, Record.Id);
        batch.Execute();
        await Task.WhenAll(delete, remove).ConfigureAwait(false);
    }
}
