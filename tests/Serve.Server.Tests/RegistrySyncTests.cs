using System.Text;
using Microsoft.Extensions.Logging;
using Serve.Engine;
using Serve.Models;
using Serve.Redis.Registry;
using Serve.Redis;
using Serve.Server.Hosting;

namespace Serve.Server.Tests;

/// <summary>Two engines ("replicas") sharing one real redis-server through the registry and the server's AdapterRegistrySync.</summary>
public sealed class RegistrySyncTests : IDisposable
{
    private readonly RedisServer _redis = new();
    private readonly TestLog _log = new();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "serve-registry-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly string _model;

    public RegistrySyncTests()
    {
        Directory.CreateDirectory(_dir);
        _model = ModelMaker.BuildTestModel(_dir);
        LoraMaker.Write(Path.Combine(_dir, "v1.gguf"), _model, new LoraSpec { Seed = 1, Std = 0.2f });
        LoraMaker.Write(Path.Combine(_dir, "v2.gguf"), _model, new LoraSpec { Seed = 2, Std = 0.2f });
    }

    private InferenceEngine StartEngine(string name) => InferenceEngine.Start(new EngineOptions
    {
        ModelPath = _model,
        AdaptersDirectory = Path.Combine(_dir, "replica-" + name),
        MaxSequences = 2,
        ContextPerSequence = 256,
        BatchSize = 256,
        Threads = 1,
    }, _log.Factory);

    private async Task<(InferenceEngine Engine, RedisStore Store, AdapterRegistrySync Sync, RedisAdapterRegistry Registry)> StartReplica(string name)
    {
        var engine = StartEngine(name);
        var store = await RedisStore.ConnectAsync(_redis.ConnectionString, _log.For<RedisStore>());
        var registry = new RedisAdapterRegistry(store);
        var sync = new AdapterRegistrySync(store, registry, engine, _log.For<AdapterRegistrySync>(), TimeSpan.FromSeconds(2));
        await sync.StartAsync();
        return (engine, store, sync, registry);
    }

    private static async Task<string> Greedy(InferenceEngine engine, string adapter)
    {
        var text = new StringBuilder();
        await foreach (var u in engine.GenerateAsync(new GenerationRequest
        {
            Messages = [new ChatMessage("user", "hello")], Adapters = [new AdapterWeight(adapter)], MaxTokens = 8,
            Sampling = new SamplingOptions { Temperature = 0 }, IgnoreEos = true,
        }))
        {
            if (u is GenerationDelta d) text.Append(d.Text);
        }
        return text.ToString();
    }

    [Fact]
    public async Task PublishOnA_ServesOnBWithinFiveSeconds_RollbackAndUnpublishFollow()
    {
        var a = await StartReplica("a");
        var b = await StartReplica("b");
        try
        {
            await a.Engine.Adapters.RegisterAsync("style", Path.Combine(_dir, "v1.gguf"));
            var published = DateTime.UtcNow;
            var v1 = await a.Sync.PublishAsync("style");
            await WaitUntil(() => Task.FromResult(b.Engine.Adapters.Find("style")?.Version == v1.Version), 5000);
            Assert.True(DateTime.UtcNow - published < TimeSpan.FromSeconds(5));
            Assert.Equal(await Greedy(a.Engine, "style"), await Greedy(b.Engine, "style"));

            await a.Engine.Adapters.RegisterAsync("style", Path.Combine(_dir, "v2.gguf"));
            var v2 = await a.Sync.PublishAsync("style");
            await WaitUntil(() => Task.FromResult(b.Engine.Adapters.Find("style")?.Version == v2.Version), 5000);
            Assert.Equal(2, (await a.Registry.GetVersionsAsync("style")).Count);

            var back = await a.Registry.RollbackAsync("style");
            Assert.Equal(v1.Version, back!.Version);
            await WaitUntil(() => Task.FromResult(b.Engine.Adapters.Find("style")?.Version == v1.Version), 5000);

            await a.Registry.UnpublishAsync("style");
            await WaitUntil(() => Task.FromResult(b.Engine.Adapters.Find("style") is null), 5000);
        }
        finally
        {
            foreach (var r in new[] { a, b }) { await r.Sync.DisposeAsync(); await r.Store.DisposeAsync(); r.Engine.Dispose(); }
        }
    }

    [Fact]
    public async Task ReplicaThatWasDown_CatchesUpOnStart()
    {
        var a = await StartReplica("a");
        try
        {
            await a.Engine.Adapters.RegisterAsync("late", Path.Combine(_dir, "v2.gguf"));
            var record = await a.Sync.PublishAsync("late");
            var c = await StartReplica("c");
            try
            {
                await WaitUntil(() => Task.FromResult(c.Engine.Adapters.Find("late")?.Version == record.Version), 5000);
            }
            finally
            {
                await c.Sync.DisposeAsync(); await c.Store.DisposeAsync(); c.Engine.Dispose();
            }
        }
        finally
        {
            await a.Sync.DisposeAsync(); await a.Store.DisposeAsync(); a.Engine.Dispose();
        }
    }

    [Fact]
    public async Task BadRegistryData_IsRejectedWithALogLine_AndTheReplicaKeepsServing()
    {
        var a = await StartReplica("a");
        try
        {
            await a.Engine.Adapters.RegisterAsync("good", Path.Combine(_dir, "v1.gguf"));
            var good = await a.Sync.PublishAsync("good");
            var db = a.Store.Database;
            var key = (string s) => a.Store.Key(s);

            // Garbage record, a pointer to a version without a record, a missing blob, a blob that does not match its hash.
            await db.SetAddAsync(key("adapters"), ["garbage", "dangling", "noblob", "tampered", "../evil"]);
            await db.StringSetAsync(key("adapter:garbage:current"), new string('a', 64));
            await db.HashSetAsync(key("adapter:garbage:versions"), new string('a', 64), "{not json");
            await db.StringSetAsync(key("adapter:dangling:current"), new string('b', 64));
            var noBlob = good with { Name = "noblob", Version = new string('c', 64) };
            await db.StringSetAsync(key("adapter:noblob:current"), noBlob.Version);
            await db.HashSetAsync(key("adapter:noblob:versions"), noBlob.Version, noBlob.ToJson());
            var tampered = good with { Name = "tampered", Version = new string('d', 64) };
            await db.StringSetAsync(key("adapter:tampered:current"), tampered.Version);
            await db.HashSetAsync(key("adapter:tampered:versions"), tampered.Version, tampered.ToJson());
            await db.StringSetAsync(key("adapter-blob:" + tampered.Version), File.ReadAllBytes(Path.Combine(_dir, "v2.gguf")));

            var b = await StartReplica("b");
            try
            {
                await WaitUntil(() => Task.FromResult(b.Engine.Adapters.Find("good") is not null), 5000);
                await WaitUntil(() => Task.FromResult(_log.Count(LogLevel.Error, "tampered") > 0), 5000);
                Assert.Equal(["good"], b.Engine.Adapters.List().Select(x => x.Name));
                Assert.True(_log.Count(LogLevel.Error, "garbage") > 0);
                Assert.True(_log.Count(LogLevel.Error, "dangling") > 0);
                Assert.True(_log.Count(LogLevel.Error, "noblob") > 0);
                Assert.True(_log.Lines.Any(l => l.Message.Contains("hashes to", StringComparison.Ordinal)));
                Assert.True(_log.Count(LogLevel.Warning, "invalid adapter name") > 0);
                Assert.NotEmpty(await Greedy(b.Engine, "good"));
            }
            finally
            {
                await b.Sync.DisposeAsync(); await b.Store.DisposeAsync(); b.Engine.Dispose();
            }
        }
        finally
        {
            await a.Sync.DisposeAsync(); await a.Store.DisposeAsync(); a.Engine.Dispose();
        }
    }

    private static async Task WaitUntil(Func<Task<bool>> condition, int timeoutMs)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.ElapsedMilliseconds > timeoutMs) throw new TimeoutException("condition not reached");
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        _redis.Dispose();
        _log.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
