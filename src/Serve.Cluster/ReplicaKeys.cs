using StackExchange.Redis;

namespace Serve.Cluster;

/// <summary>
/// The heartbeat layout in Redis, shared by the writer (replicas) and the reader (gateway):
/// <list type="bullet">
/// <item><c>{prefix}replicas:{id}</c>: a string holding the <see cref="ReplicaRecord"/> JSON, written with a TTL on
/// every beat. The key's existence is the liveness signal; a replica that stops beating expires.</item>
/// <item><c>{prefix}replicas</c>: a sorted set of ids scored by the beat's expiry (Unix ms), so readers list
/// replicas without SCAN and can drop ids whose last beat expired long ago.</item>
/// </list>
/// </summary>
public sealed class ReplicaKeys
{
    public const string DefaultPrefix = "serve:";

    public ReplicaKeys(string prefix = DefaultPrefix)
    {
        Prefix = prefix;
        Index = prefix + "replicas";
    }

    public string Prefix { get; }

    /// <summary>The sorted set of replica ids.</summary>
    public RedisKey Index { get; }

    /// <summary>The key that holds one replica's record.</summary>
    public RedisKey Replica(string id) => Prefix + "replicas:" + id;
}
