namespace Serve.Redis.Caching;

/// <summary>A response cache level. Implementations never throw for a store failure: a failure is a miss.</summary>
public interface IResponseCache
{
    ValueTask<CachedResponse?> GetAsync(string key, CancellationToken cancellationToken = default);
    ValueTask SetAsync(string key, CachedResponse response, TimeSpan timeToLive, CancellationToken cancellationToken = default);
}
