namespace Serve.Redis.Caching;

/// <summary>The in-process level in front of the shared one; a shared hit fills the local level.</summary>
public sealed class TieredResponseCache(MemoryResponseCache local, IResponseCache shared, TimeSpan localTimeToLive) : IResponseCache
{
    public async ValueTask<CachedResponse?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        var hit = await local.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (hit is not null) return hit;
        hit = await shared.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (hit is not null) await local.SetAsync(key, hit, localTimeToLive, cancellationToken).ConfigureAwait(false);
        return hit;
    }

    public async ValueTask SetAsync(string key, CachedResponse response, TimeSpan timeToLive, CancellationToken cancellationToken = default)
    {
        await local.SetAsync(key, response, timeToLive < localTimeToLive ? timeToLive : localTimeToLive, cancellationToken).ConfigureAwait(false);
        await shared.SetAsync(key, response, timeToLive, cancellationToken).ConfigureAwait(false);
    }
}
