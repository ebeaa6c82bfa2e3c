using StackExchange.Redis;

namespace Serve.Cluster;

/// <summary>
/// A process's existing Redis connection, offered to the heartbeat so a replica holds one connection, not one per
/// library. Returns null for a connection string it does not serve; the heartbeat then opens its own.
/// </summary>
public interface IRedisConnectionSource
{
    IConnectionMultiplexer? For(string connectionString);
}
