using Microsoft.Extensions.Logging.Abstractions;
using Serve.Redis;
using Serve.Redis.Registry;

namespace Serve.Cli.Publishing;

/// <summary>
/// Makes a version current in the shared Redis registry (blob + record + event), so replicas that sync from Redis
/// load it. A rollback publishes the older version's bytes again, which keeps Redis's "current" equal to the file
/// registry's.
/// </summary>
public static class RedisPublisher
{
    public static async Task<string> PublishAsync(string connection, string name, string path, AdapterVersion version, TimeSpan timeout)
    {
        await using var store = await RedisStore.ConnectAsync(connection, NullLogger.Instance).ConfigureAwait(false);
        var deadline = DateTime.UtcNow + timeout;
        while (!store.Connection.IsConnected && DateTime.UtcNow < deadline) await Task.Delay(100).ConfigureAwait(false);
        if (!store.Connection.IsConnected) throw new TimeoutException($"Redis at {connection} did not answer within {timeout.TotalSeconds:F0} s");
        var bytes = await File.ReadAllBytesAsync(path).ConfigureAwait(false);
        var adapter = new AdapterPublication(name, version.Sha256, version.BaseSha256, version.Rank, version.Alpha);
        var record = await new RedisAdapterRegistry(store).PublishAsync(adapter, bytes).ConfigureAwait(false);
        return record.Version;
    }
}
