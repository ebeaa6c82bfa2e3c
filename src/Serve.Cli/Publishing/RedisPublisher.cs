using Microsoft.Extensions.Logging.Abstractions;
using Serve.Engine.Adapters;
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
        string architecture;
        using (var file = Serve.Gguf.GgufFile.Read(path)) architecture = file.Architecture ?? "llama";
        var info = new AdapterInfo(name, version.Sha256, path, version.Rank, version.Alpha, architecture, version.BaseSha256, bytes.LongLength,
            version.Created, IsLoaded: false, IsPinned: false, ActiveSequences: 0, new Dictionary<string, string>());
        var record = await new RedisAdapterRegistry(store).PublishAsync(info, bytes).ConfigureAwait(false);
        return record.Version;
    }
}
