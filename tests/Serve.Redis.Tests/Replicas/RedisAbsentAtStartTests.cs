using System.Net;
using System.Text;
using Serve.Models;

namespace Serve.Redis.Tests.Replicas;

/// <summary>A replica whose Redis is not up yet starts, serves degraded, and picks Redis up when it appears.</summary>
public sealed class RedisAbsentAtStartTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "serve-absent-" + Guid.NewGuid().ToString("N")[..8]);

    [Fact]
    public async Task RedisDownAtStart_ReplicaServesDegraded_ThenConnectsWithoutRestart()
    {
        Directory.CreateDirectory(_dir);
        var model = ModelMaker.BuildTestModel(_dir, new LlamaModelSpec { ContextLength = 1024 });
        using var redis = new RedisServer();
        redis.Kill(); // the port is known, nothing listens on it yet
        await using var replica = await ServerProcess.StartAsync("replica-early", model, Path.Combine(_dir, "adapters"),
            new Dictionary<string, string> { ["Serve:Redis"] = redis.ConnectionString });
        using var client = replica.Client();

        using (var health = await client.GetAsync("healthz/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal("Degraded", await health.Content.ReadAsStringAsync());
        }
        var chat = """{"model":"base","messages":[{"role":"user","content":"early"}],"max_tokens":2,"temperature":0}""";
        using (var served = await client.PostAsync("v1/chat/completions", new StringContent(chat, Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);

        redis.Start();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (await client.GetStringAsync("healthz/ready") != "Healthy")
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), "not healthy 15 s after Redis started:\n" + replica.RecentOutput());
            await Task.Delay(100);
        }
        using var registry = await client.GetAsync("admin/registry");
        Assert.Equal(HttpStatusCode.OK, registry.StatusCode);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
