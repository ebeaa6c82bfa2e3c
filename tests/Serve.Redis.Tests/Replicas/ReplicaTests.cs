using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using StackExchange.Redis;

namespace Serve.Redis.Tests.Replicas;

/// <summary>
/// Issue 6's "must show" with two real server processes sharing one real redis-server: the response cache (byte
/// identical hits across replicas, republish misses), publish on A serving on B, a rate limit across both, Redis
/// killed mid-load, and bad data in Redis. Tests of this class run one after another over the same replicas.
/// </summary>
public sealed class ReplicaTests(ReplicaFixture fx, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<ReplicaFixture>
{
    private static string Chat(string model, string user, int maxTokens = 6, string extra = "") =>
        $$"""{"model":"{{model}}","messages":[{"role":"user","content":{{JsonSerializer.Serialize(user)}}}],"max_tokens":{{maxTokens}},"temperature":0{{extra}}}""";

    private static async Task<(HttpStatusCode Status, string Cache, byte[] Body)> PostAsync(HttpClient client, string path, string json)
    {
        using var response = await client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        var cache = response.Headers.TryGetValues("X-Serve-Cache", out var v) ? v.Single() : "(none)";
        return (response.StatusCode, cache, await response.Content.ReadAsByteArrayAsync());
    }

    private static async Task RegisterAsync(AppProcess replica, string name, string path)
    {
        using var admin = replica.Client();
        using var response = await admin.PostAsync("admin/adapters", new StringContent(
            JsonSerializer.Serialize(new { name, path }), Encoding.UTF8, "application/json"));
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    private static async Task<string> HealthAsync(AppProcess replica)
    {
        using var client = replica.Client();
        using var response = await client.GetAsync("healthz/ready");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // degraded is still ready
        return await response.Content.ReadAsStringAsync();
    }

    private static async Task WaitFor(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout) throw new TimeoutException($"{what}: not within {timeout.TotalSeconds} s");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task CacheHit_IsByteIdentical_JsonAndSse_AcrossReplicas_RepublishedAdapterMisses()
    {
        using var a = fx.A.Client(ReplicaFixture.ApiKey);
        using var b = fx.B.Client(ReplicaFixture.ApiKey);
        var body = Chat("base", "cache across replicas");

        var miss = await PostAsync(a, "v1/chat/completions", body);
        Assert.Equal((HttpStatusCode.OK, "miss"), (miss.Status, miss.Cache));
        var localHit = await PostAsync(a, "v1/chat/completions", body);
        Assert.Equal("hit", localHit.Cache);
        Assert.Equal(miss.Body, localHit.Body);
        var sharedHit = await PostAsync(b, "v1/chat/completions", body); // B never computed it: Redis level
        Assert.True(sharedHit.Cache == "hit", "A:\n" + fx.A.RecentOutput() + "\nB:\n" + fx.B.RecentOutput());
        Assert.Equal(miss.Body, sharedHit.Body);

        var stream = Chat("base", "cache across replicas", extra: ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
        var streamed = await PostAsync(a, "v1/chat/completions", stream);
        Assert.Equal("miss", streamed.Cache);
        Assert.EndsWith("data: [DONE]\n\n", Encoding.UTF8.GetString(streamed.Body));
        var replayed = await PostAsync(b, "v1/chat/completions", stream);
        Assert.Equal("hit", replayed.Cache);
        Assert.Equal(streamed.Body, replayed.Body);

        var completion = """{"model":"base","prompt":"cache a completion","max_tokens":4,"seed":3,"temperature":0.9}""";
        Assert.Equal("miss", (await PostAsync(a, "v1/completions", completion)).Cache);
        Assert.Equal("hit", (await PostAsync(b, "v1/completions", completion)).Cache);

        // The same name with new content is a new version: its requests can never match the old entries.
        await RegisterAsync(fx.A, "cached-style", fx.Lora(1));
        var styled = Chat("cached-style", "cache an adapter");
        Assert.Equal("miss", (await PostAsync(a, "v1/chat/completions", styled)).Cache);
        Assert.Equal("hit", (await PostAsync(a, "v1/chat/completions", styled)).Cache);
        await RegisterAsync(fx.A, "cached-style", fx.Lora(2));
        var republished = await PostAsync(a, "v1/chat/completions", styled);
        Assert.Equal((HttpStatusCode.OK, "miss"), (republished.Status, republished.Cache));

        var metrics = await a.GetStringAsync("metrics");
        Assert.Contains("serve_response_cache_lookups_total{result=\"hit\"}", metrics);
    }

    [Fact]
    public async Task PublishThroughA_ServesOnBWithinFiveSeconds_UnpublishFollows()
    {
        using var a = fx.A.Client(ReplicaFixture.ApiKey);
        using var b = fx.B.Client(ReplicaFixture.ApiKey);
        await RegisterAsync(fx.A, "shared-style", fx.Lora(3));
        // Sampled without a seed, so B must compute it itself (no cache).
        var request = """{"model":"shared-style","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"temperature":0.7}""";
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync(b, "v1/chat/completions", request)).Status);

        var clock = Stopwatch.StartNew();
        using var published = await a.PostAsync("admin/adapters/shared-style/publish", null);
        var record = JsonDocument.Parse(await published.Content.ReadAsStringAsync()).RootElement;
        Assert.True(published.IsSuccessStatusCode, record.ToString());
        await WaitFor(async () => (await PostAsync(b, "v1/chat/completions", request)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(5), "B serves the published adapter");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        output.WriteLine($"published on A -> served on B after {clock.Elapsed.TotalMilliseconds:F0} ms");
        using var onB = JsonDocument.Parse(await b.GetStringAsync("admin/adapters/shared-style"));
        Assert.Equal(record.GetProperty("version").GetString(), onB.RootElement.GetProperty("version").GetString());
        using var listed = JsonDocument.Parse(await b.GetStringAsync("admin/registry"));
        Assert.Contains(listed.RootElement.GetProperty("data").EnumerateArray(), e => e.GetProperty("name").GetString() == "shared-style");

        using var unpublished = await a.DeleteAsync("admin/adapters/shared-style/publish");
        Assert.Equal(HttpStatusCode.NoContent, unpublished.StatusCode);
        await WaitFor(async () => (await PostAsync(b, "v1/chat/completions", request)).Status == HttpStatusCode.NotFound, TimeSpan.FromSeconds(5), "B drops the unpublished adapter");
    }

    [Fact]
    public async Task ReplicaStartedAfterAPublish_CatchesUpOnStart()
    {
        await RegisterAsync(fx.A, "early-style", fx.Lora(4));
        using var a = fx.A.Client(ReplicaFixture.ApiKey);
        using (var published = await a.PostAsync("admin/adapters/early-style/publish", null))
            Assert.True(published.IsSuccessStatusCode, await published.Content.ReadAsStringAsync());
        await using var late = await ServerProcess.StartAsync("replica-late", fx.ModelPath, Path.Combine(fx.Directory, "adapters-late"), fx.Settings);
        using var client = late.Client(ReplicaFixture.ApiKey);
        var request = """{"model":"early-style","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"temperature":0.7}""";
        await WaitFor(async () => (await PostAsync(client, "v1/chat/completions", request)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(10), "the late replica installs what was published before it started");
        Assert.True(late.Count("Adapter early-style version") >= 1, late.RecentOutput());
    }

    [Fact]
    public async Task RateLimit_IsSharedAcrossReplicas_429WithRetryAfterInOpenAiShape()
    {
        // The windows are calendar minutes: start early in one so the whole test falls inside it.
        var second = DateTimeOffset.UtcNow.Second;
        if (second > 45) await Task.Delay(TimeSpan.FromSeconds(61 - second));
        using var a = fx.A.Client(ReplicaFixture.LimitedKey);
        using var b = fx.B.Client(ReplicaFixture.LimitedKey);
        for (var i = 0; i < ReplicaFixture.LimitedRequestsPerMinute; i++)
        {
            using var ok = await (i % 2 == 0 ? a : b).GetAsync("v1/models");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        foreach (var client in new[] { a, b })
        {
            using var refused = await client.GetAsync("v1/models");
            Assert.Equal((HttpStatusCode)429, refused.StatusCode);
            Assert.True(refused.Headers.RetryAfter?.Delta is { } after && after >= TimeSpan.FromSeconds(1) && after <= TimeSpan.FromSeconds(60));
            using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            var e = error.RootElement.GetProperty("error");
            Assert.Equal("rate_limit_exceeded", e.GetProperty("code").GetString());
            Assert.Equal("rate_limit_error", e.GetProperty("type").GetString());
            Assert.Contains("requests per minute", e.GetProperty("message").GetString());
        }
        // Another key is not affected.
        using var other = fx.A.Client(ReplicaFixture.ApiKey);
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("v1/models")).StatusCode);
    }

    [Fact]
    public async Task RedisKilledMidLoad_RequestsSucceed_HealthDegraded_CacheResumesAfterRestart()
    {
        using var a = fx.A.Client(ReplicaFixture.ApiKey);
        using var b = fx.B.Client(ReplicaFixture.ApiKey);
        var warnings = fx.A.Count("Redis unavailable");
        var statuses = new List<HttpStatusCode>();
        using var stop = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            // Bounded: at most 200 requests, alternating replicas, cached and uncached.
            for (var i = 0; i < 200 && !stop.IsCancellationRequested; i++)
            {
                var client = i % 2 == 0 ? a : b;
                var json = i % 3 == 0
                    ? """{"model":"base","messages":[{"role":"user","content":"load"}],"max_tokens":2,"temperature":0.7}"""
                    : Chat("base", $"load {i % 5}", 2);
                var r = await PostAsync(client, "v1/chat/completions", json);
                lock (statuses) statuses.Add(r.Status);
            }
        });
        await Task.Delay(500);
        fx.Redis.Kill();
        try
        {
            await WaitFor(async () => (await HealthAsync(fx.A)).Contains("Degraded"), TimeSpan.FromSeconds(10), "A reports degraded");
            await WaitFor(async () => (await HealthAsync(fx.B)).Contains("Degraded"), TimeSpan.FromSeconds(10), "B reports degraded");
            // A fresh deterministic request while Redis is down: served by the engine, cache bypassed.
            var during = await PostAsync(a, "v1/chat/completions", Chat("base", "while redis is down"));
            Assert.Equal((HttpStatusCode.OK, "miss"), (during.Status, during.Cache));
            using (var publish = await a.PostAsync("admin/adapters/cached-style/publish", null))
                Assert.True(publish.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.NotFound, publish.StatusCode.ToString());
            await Task.Delay(1000); // more load while down
        }
        finally
        {
            fx.Redis.Start();
        }
        await WaitFor(async () => (await HealthAsync(fx.A)) == "Healthy" && (await HealthAsync(fx.B)) == "Healthy", TimeSpan.FromSeconds(20), "both healthy again");
        await stop.CancelAsync();
        await load;
        Assert.NotEmpty(statuses);
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        // Logged once per outage: not once per request, nor once per probe or heartbeat health evaluation.
        Assert.Equal(warnings + 1, fx.A.Count("Redis unavailable"));
        Assert.Equal(0, fx.A.Count("Health check redis"));
        Assert.True(fx.A.Count("Redis is back") >= 1);

        // The shared level works again without a restart: A stores, B hits through Redis (within seconds of the
        // reconnect; each try is a new prompt, so a hit can only come from Redis).
        var attempt = 0;
        await WaitFor(async () =>
        {
            var after = Chat("base", $"after redis came back {attempt++}");
            Assert.Equal("miss", (await PostAsync(a, "v1/chat/completions", after)).Cache);
            return (await PostAsync(b, "v1/chat/completions", after)).Cache == "hit";
        }, TimeSpan.FromSeconds(10), "A's entries reach B through Redis again\nA:\n" + fx.A.RecentOutput() + "\nB:\n" + fx.B.RecentOutput());
    }

    [Fact]
    public async Task BothReplicas_RegisterForTheGateway_InTheSharedRedis()
    {
        // Serve:Cluster:Redis defaults to Serve:Redis: the heartbeat lands where the gateway's discovery reads.
        await using var redis = await fx.ConnectAsync();
        var db = redis.GetDatabase();
        foreach (var replica in new[] { fx.A, fx.B })
        {
            await WaitFor(async () => (await db.StringGetAsync($"serve:replicas:{replica.Name}")).HasValue, TimeSpan.FromSeconds(10), replica.Name + " registered");
            using var record = JsonDocument.Parse((string)(await db.StringGetAsync($"serve:replicas:{replica.Name}"))!);
            Assert.Equal(replica.Address.ToString().TrimEnd('/'), record.RootElement.GetProperty("url").GetString());
            Assert.NotNull(await db.SortedSetScoreAsync("serve:replicas", replica.Name));
        }
    }

    [Fact]
    public async Task BadDataInRedis_IsRejectedWithALogLine_ReplicasKeepServing()
    {
        await using var redis = await fx.ConnectAsync();
        var db = redis.GetDatabase();
        var fakeVersion = new string('a', 64);
        var otherVersion = new string('b', 64);
        string Record(string name, string version) =>
            $$"""{"name":"{{name}}","version":"{{version}}","base_model_sha256":null,"rank":4,"alpha":8,"size_bytes":10,"created_utc":"2026-01-01T00:00:00+00:00","location":"redis"}""";
        await db.SetAddAsync("serve:adapters", ["junk-type", "junk-json", "no-blob", "bad-hash"]);
        await db.HashSetAsync("serve:adapter:junk-type:current", "x", "y"); // wrong Redis type
        await db.StringSetAsync("serve:adapter:junk-json:current", fakeVersion);
        await db.HashSetAsync("serve:adapter:junk-json:versions", fakeVersion, "{not json");
        await db.StringSetAsync("serve:adapter:no-blob:current", fakeVersion);
        await db.HashSetAsync("serve:adapter:no-blob:versions", fakeVersion, Record("no-blob", fakeVersion));
        await db.StringSetAsync("serve:adapter:bad-hash:current", otherVersion);
        await db.HashSetAsync("serve:adapter:bad-hash:versions", otherVersion, Record("bad-hash", otherVersion));
        await db.StringSetAsync("serve:adapter-blob:" + otherVersion, "these bytes do not hash to the version");
        var events = RedisChannel.Literal("serve:adapter-events");
        await redis.GetSubscriber().PublishAsync(events, "this is not an event");
        foreach (var name in new[] { "junk-type", "junk-json", "no-blob", "bad-hash" })
            await redis.GetSubscriber().PublishAsync(events, $$"""{"kind":"published","name":"{{name}}","version":null}""");

        // A cache entry cut in half (as a crashed writer would leave it) is never served.
        using var a = fx.A.Client(ReplicaFixture.ApiKey);
        using var b = fx.B.Client(ReplicaFixture.ApiKey);
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var before = server.Keys(pattern: "serve:cache:*").Select(k => (string)k!).ToHashSet();
        var body = Chat("base", "an entry to corrupt");
        var original = await PostAsync(a, "v1/chat/completions", body);
        Assert.Equal("miss", original.Cache);
        var stored = Assert.Single(server.Keys(pattern: "serve:cache:*").Select(k => (string)k!).Where(k => !before.Contains(k)));
        var bytes = (byte[])(await db.StringGetAsync(stored))!;
        await db.StringSetAsync(stored, bytes[..(bytes.Length / 2)]);

        try
        {
            var onB = await PostAsync(b, "v1/chat/completions", body);
            Assert.Equal((HttpStatusCode.OK, "miss"), (onB.Status, onB.Cache));
            Assert.Equal(JsonDocument.Parse(original.Body).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(),
                JsonDocument.Parse(onB.Body).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
            Assert.True(fx.B.Count("Discarded a corrupt response cache entry") >= 1, fx.B.RecentOutput());

            await WaitFor(() => Task.FromResult(
                    fx.B.Count("Ignored a malformed adapter event") >= 1
                    && fx.B.Count("Registry entry for junk-type rejected") >= 1
                    && fx.B.Count("Registry entry for junk-json rejected") >= 1
                    && fx.B.Count("The blob of 'no-blob' version aaaaaaaaaaaa is missing") >= 1
                    && fx.B.Count("The blob of 'bad-hash' version bbbbbbbbbbbb hashes to") >= 1),
                TimeSpan.FromSeconds(10), "B logs every bad entry:\n" + fx.B.RecentOutput());
            // Resyncs (every 2 s here) meet the same bad entries again: one error line per problem, not one per pass.
            await Task.Delay(TimeSpan.FromSeconds(4.5));
            Assert.Equal(1, fx.B.Count("Registry entry for junk-type rejected"));
            Assert.Equal(1, fx.B.Count("The blob of 'bad-hash' version bbbbbbbbbbbb hashes to"));
            foreach (var replica in new[] { a, b })
            {
                Assert.Equal(HttpStatusCode.OK, (await PostAsync(replica, "v1/chat/completions", Chat("base", "still serving"))).Status);
                Assert.Equal(HttpStatusCode.NotFound, (await PostAsync(replica, "v1/chat/completions", Chat("bad-hash", "x"))).Status);
            }
            Assert.Equal("Healthy", await HealthAsync(fx.B));
        }
        finally
        {
            await db.SetRemoveAsync("serve:adapters", ["junk-type", "junk-json", "no-blob", "bad-hash"]);
        }
    }
}
