using StackExchange.Redis;

namespace Serve.Cluster;

/// <summary>The reading side of the heartbeats: the replicas whose last beat has not expired.</summary>
public sealed class ReplicaDirectory
{
    /// <summary>Ids whose beat expired this long ago are dropped from the index (beyond any sane clock skew).</summary>
    public static readonly TimeSpan IndexGarbageAge = TimeSpan.FromMinutes(1);

    private readonly IDatabase _database;
    private readonly ReplicaKeys _keys;
    private readonly TimeProvider _time;

    public ReplicaDirectory(IDatabase database, ReplicaKeys keys, TimeProvider? time = null)
    {
        _database = database;
        _keys = keys;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Live replicas ordered by id. Throws RedisException when Redis cannot be read, so callers can keep the last good list.</summary>
    public async Task<IReadOnlyList<ReplicaRecord>> ReadAsync()
    {
        var cutoff = (_time.GetUtcNow() - IndexGarbageAge).ToUnixTimeMilliseconds();
        await _database.SortedSetRemoveRangeByScoreAsync(_keys.Index, double.NegativeInfinity, cutoff).ConfigureAwait(false);
        var ids = await _database.SortedSetRangeByRankAsync(_keys.Index).ConfigureAwait(false);
        if (ids.Length == 0) return [];
        var keys = ids.Select(id => _keys.Replica(id.ToString())).ToArray();
        var values = await _database.StringGetAsync(keys).ConfigureAwait(false);
        var live = new List<ReplicaRecord>(ids.Length);
        for (var i = 0; i < ids.Length; i++)
        {
            // The key's TTL is the liveness signal; the id must match so a renamed key cannot pose as another replica.
            if (ReplicaRecord.TryParse(values[i]) is { } record && record.Id == ids[i].ToString()) live.Add(record);
        }
        live.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return live;
    }
}
