using System.Net;

namespace Serve.Server.Tests;

/// <summary>
/// The response cache on a single node (no Serve:Redis: the in-process level alone) and the single-node limits;
/// the shared level and two replicas are tested in Serve.Redis.Tests with real server processes.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ResponseCacheTests(ServerFixture fixture)
{
    private static string Cache(HttpResponseMessage r) => r.Headers.TryGetValues("X-Serve-Cache", out var v) ? v.Single() : "(none)";

    [Fact]
    public async Task SingleNode_GreedyRepeat_IsByteIdenticalHit_AndReplacedAdapterMisses()
    {
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null, new Dictionary<string, string?>
        {
            ["Serve:Cache:Enabled"] = "true",
            ["Serve:AdapterImportDirectories:0"] = fixture.Sources,
        });
        using var admin = server.Client();
        await (await admin.PostJsonAsync("admin/adapters", $$"""{"name":"cached","path":{{System.Text.Json.JsonSerializer.Serialize(fixture.Source("a"))}}}""")).JsonAsync(201);
        using var client = server.Client();
        var body = Http.Chat("cached", "cache me", 6);

        using var first = await client.PostJsonAsync("v1/chat/completions", body);
        var firstBytes = await first.Content.ReadAsByteArrayAsync();
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("miss", Cache(first));
        using var second = await client.PostJsonAsync("v1/chat/completions", body);
        Assert.Equal("hit", Cache(second));
        Assert.Equal(firstBytes, await second.Content.ReadAsByteArrayAsync());
        Assert.Equal(first.Content.Headers.ContentType, second.Content.Headers.ContentType);

        var stream = Http.Chat("cached", "cache me", 6, ",\"stream\":true");
        using var s1 = await client.PostJsonAsync("v1/chat/completions", stream);
        var s1Bytes = await s1.Content.ReadAsByteArrayAsync();
        Assert.Equal("miss", Cache(s1));
        using var s2 = await client.PostJsonAsync("v1/chat/completions", stream);
        Assert.Equal("hit", Cache(s2));
        Assert.Equal("text/event-stream", s2.Content.Headers.ContentType?.MediaType);
        Assert.Equal(s1Bytes, await s2.Content.ReadAsByteArrayAsync());
        Assert.Equal("[DONE]", Http.SseData(System.Text.Encoding.UTF8.GetString(s1Bytes))[^1]);

        // A new version under the same name is a new key: never the old answer.
        await (await admin.PutAsync("admin/adapters/cached", new ByteArrayContent(await File.ReadAllBytesAsync(fixture.Source("b"))))).JsonAsync(201);
        using var replaced = await client.PostJsonAsync("v1/chat/completions", body);
        Assert.Equal("miss", Cache(replaced));
        await replaced.JsonAsync();

        // Sampling without a seed is not deterministic: never cached, no header.
        using var random = await client.PostJsonAsync("v1/chat/completions", """{"model":"base","messages":[{"role":"user","content":"x"}],"max_tokens":2,"temperature":0.8}""");
        Assert.Equal("(none)", Cache(random));
        // A fixed seed is.
        var seeded = """{"model":"base","messages":[{"role":"user","content":"x"}],"max_tokens":3,"temperature":0.8,"seed":7}""";
        Assert.Equal("miss", Cache(await client.PostJsonAsync("v1/chat/completions", seeded)));
        Assert.Equal("hit", Cache(await client.PostJsonAsync("v1/chat/completions", seeded)));
        // Completions share the mechanism under their own endpoint key.
        var completion = """{"model":"base","prompt":"x","max_tokens":3,"temperature":0,"seed":7}""";
        Assert.Equal("miss", Cache(await client.PostJsonAsync("v1/completions", completion)));
        Assert.Equal("hit", Cache(await client.PostJsonAsync("v1/completions", completion)));

        var metrics = await client.GetStringAsync("metrics");
        Assert.Contains("serve_response_cache_lookups_total{result=\"hit\"}", metrics);
        Assert.Contains("serve_response_cache_lookups_total{result=\"miss\"}", metrics);
    }

    [Fact]
    public async Task SingleNode_TokensPerMinute_Exceeded_Is429_PerKeyQuotaOverridesDefault()
    {
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null, new Dictionary<string, string?>
        {
            ["Serve:ApiKeys:0"] = "sk-small",
            ["Serve:ApiKeys:1"] = "sk-big",
            ["Serve:TokensPerMinute"] = "10",
            ["Serve:Quotas:0:ApiKey"] = "sk-big",
            ["Serve:Quotas:0:TokensPerMinute"] = "100000",
        });
        using var small = server.Client("sk-small");
        using var big = server.Client("sk-big");
        var body = """{"model":"base","prompt":"one two three four","max_tokens":8,"ignore_eos":true}""";
        await (await small.PostJsonAsync("v1/completions", body)).JsonAsync(); // uses more than 10 tokens
        using var refused = await small.PostJsonAsync("v1/completions", body);
        var error = await refused.ErrorAsync(429);
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
        Assert.Contains("tokens per minute", error.GetProperty("message").GetString());
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        await (await big.PostJsonAsync("v1/completions", body)).JsonAsync();
        await (await big.PostJsonAsync("v1/completions", body)).JsonAsync();
    }

    [Fact]
    public async Task SingleNode_PublishWithoutRedis_Is409_HealthStaysHealthy()
    {
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null);
        using var client = server.Client();
        var error = await (await client.PostAsync("admin/adapters/a/publish", null)).ErrorAsync(409);
        Assert.Equal("registry_disabled", error.GetProperty("code").GetString());
        using var health = await client.GetAsync("healthz/ready");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("Healthy", await health.Content.ReadAsStringAsync());
    }
}
