using System.Text;
using Serve.Redis.Caching;

namespace Serve.Redis.Tests;

public sealed class CachedResponseTests
{
    private static readonly CachedResponse Sample = new("text/event-stream", Encoding.UTF8.GetBytes("data: {\"x\":1}\n\ndata: [DONE]\n\n"), DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));

    [Fact]
    public void Serialize_RoundTrips()
    {
        var back = CachedResponse.TryDeserialize(Sample.Serialize());
        Assert.NotNull(back);
        Assert.Equal(Sample.ContentType, back.ContentType);
        Assert.Equal(Sample.Body, back.Body);
        Assert.Equal(Sample.CreatedUtc, back.CreatedUtc);
    }

    [Fact]
    public void Deserialize_EveryTruncationAndBitFlip_IsRejected()
    {
        var bytes = Sample.Serialize();
        for (var n = 0; n < bytes.Length; n++) Assert.Null(CachedResponse.TryDeserialize(bytes.AsSpan(0, n)));
        for (var i = 0; i < bytes.Length; i++)
        {
            var flipped = (byte[])bytes.Clone();
            flipped[i] ^= 0x10;
            Assert.Null(CachedResponse.TryDeserialize(flipped));
        }
        Assert.Null(CachedResponse.TryDeserialize("garbage"u8));
    }

    [Fact]
    public async Task Memory_EvictsLeastRecentlyUsed_ByBytes_AndExpires()
    {
        var time = new ManualTime();
        var cache = new MemoryResponseCache(maxBytes: 3 * 1200, time);
        var body = new byte[1000];
        foreach (var k in new[] { "a", "b", "c" }) await cache.SetAsync(k, new CachedResponse("application/json", body, time.GetUtcNow()), TimeSpan.FromMinutes(1));
        Assert.NotNull(await cache.GetAsync("a")); // a is now the most recent
        await cache.SetAsync("d", new CachedResponse("application/json", body, time.GetUtcNow()), TimeSpan.FromMinutes(1));
        Assert.Null(await cache.GetAsync("b"));
        Assert.NotNull(await cache.GetAsync("a"));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Null(await cache.GetAsync("a"));
    }

    private sealed class ManualTime : TimeProvider
    {
        private DateTimeOffset _now = DateTimeOffset.UtcNow;
        public override DateTimeOffset GetUtcNow() => _now;
        public void Advance(TimeSpan by) => _now += by;
    }
}
