using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Serve.Redis.Caching;

/// <summary>
/// The shared level: one Redis string per entry (SET is atomic, and the entry carries its own checksum, so a
/// partially written or garbage value is rejected and deleted). A Redis failure is a miss.
/// </summary>
public sealed class RedisResponseCache(RedisStore store, long maxEntryBytes, ILogger<RedisResponseCache> logger) : IResponseCache
{
    public async ValueTask<CachedResponse?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        var redisKey = store.Key("cache:" + key);
        var value = await store.TryAsync("cache get", db => db.StringGetAsync(redisKey), RedisValue.Null).ConfigureAwait(false);
        if (value.IsNull) return null;
        var response = CachedResponse.TryDeserialize((byte[])value!);
        if (response is null)
        {
            logger.LogWarning("Discarded a corrupt response cache entry {Key} ({Bytes} bytes)", redisKey, ((byte[])value!).Length);
            await store.TryAsync("cache delete", db => db.KeyDeleteAsync(redisKey), false).ConfigureAwait(false);
        }
        return response;
    }

    public async ValueTask SetAsync(string key, CachedResponse response, TimeSpan timeToLive, CancellationToken cancellationToken = default)
    {
        if (response.Body.Length > maxEntryBytes || timeToLive <= TimeSpan.Zero) return;
        var bytes = response.Serialize();
        await store.TryAsync("cache set", db => db.StringSetAsync(store.Key("cache:" + key), bytes, timeToLive), false).ConfigureAwait(false);
    }
}
