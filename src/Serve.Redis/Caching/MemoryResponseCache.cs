namespace Serve.Redis.Caching;

/// <summary>
/// The in-process level: least recently used entries go first once the byte budget is spent; entries also expire
/// after their time to live. Used alone without Redis, and in front of Redis otherwise.
/// </summary>
public sealed class MemoryResponseCache(long maxBytes, TimeProvider? time = null) : IResponseCache
{
    private readonly object _gate = new();
    private readonly Dictionary<string, LinkedListNode<Entry>> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _order = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private long _bytes;

    public long Bytes { get { lock (_gate) return _bytes; } }
    public int Count { get { lock (_gate) return _entries.Count; } }

    public ValueTask<CachedResponse?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(key, out var node)) return ValueTask.FromResult<CachedResponse?>(null);
            if (node.Value.ExpiresAt <= _time.GetUtcNow())
            {
                Remove(node);
                return ValueTask.FromResult<CachedResponse?>(null);
            }
            _order.Remove(node);
            _order.AddFirst(node);
            return ValueTask.FromResult<CachedResponse?>(node.Value.Response);
        }
    }

    public ValueTask SetAsync(string key, CachedResponse response, TimeSpan timeToLive, CancellationToken cancellationToken = default)
    {
        var size = response.Body.Length + key.Length * 2 + 64;
        if (size > maxBytes || timeToLive <= TimeSpan.Zero) return ValueTask.CompletedTask;
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var existing)) Remove(existing);
            while (_bytes + size > maxBytes && _order.Last is { } oldest) Remove(oldest);
            var node = _order.AddFirst(new Entry(key, response, size, _time.GetUtcNow() + timeToLive));
            _entries[key] = node;
            _bytes += size;
        }
        return ValueTask.CompletedTask;
    }

    private void Remove(LinkedListNode<Entry> node)
    {
        _order.Remove(node);
        _entries.Remove(node.Value.Key);
        _bytes -= node.Value.Size;
    }

    private sealed record Entry(string Key, CachedResponse Response, long Size, DateTimeOffset ExpiresAt);
}
