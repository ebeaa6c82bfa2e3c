using Serve.Models;
using StackExchange.Redis;

namespace Serve.Redis.Tests.Replicas;

/// <summary>
/// One real redis-server and two server processes (replicas A and B) sharing it, over one made base model, with
/// adapter files to register and publish. API key sk-test is unlimited; sk-limited has 4 requests per minute.
/// </summary>
public sealed class ReplicaFixture : IAsyncLifetime
{
    public const string ApiKey = "sk-test";
    public const string LimitedKey = "sk-limited";
    public const int LimitedRequestsPerMinute = 4;

    public ReplicaFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "serve-replicas-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(Directory);
        ModelPath = ModelMaker.BuildTestModel(Directory, new LlamaModelSpec { ContextLength = 1024 });
        for (var i = 1; i <= 4; i++) LoraMaker.Write(Lora(i), ModelPath, new LoraSpec { Seed = i * 13, Std = 0.2f });
    }

    public string Directory { get; }
    public string ModelPath { get; }
    public RedisServer Redis { get; private set; } = null!;
    public AppProcess A { get; private set; } = null!;
    public AppProcess B { get; private set; } = null!;

    public string Lora(int i) => Path.Combine(Directory, $"lora{i}.gguf");

    public async Task InitializeAsync()
    {
        Redis = new RedisServer();
        var a = ServerProcess.StartAsync("replica-a", ModelPath, Path.Combine(Directory, "adapters-a"), Settings);
        var b = ServerProcess.StartAsync("replica-b", ModelPath, Path.Combine(Directory, "adapters-b"), Settings);
        try
        {
            A = await a;
        }
        finally
        {
            B = await b;
        }
    }

    /// <summary>The settings every replica of this fixture runs with.</summary>
    public Dictionary<string, string> Settings => new()
    {
        ["Serve:Redis"] = Redis.ConnectionString,
        ["Serve:ApiKeys:0"] = ApiKey,
        ["Serve:ApiKeys:1"] = LimitedKey,
        ["Serve:Quotas:0:ApiKey"] = LimitedKey,
        ["Serve:Quotas:0:RequestsPerMinute"] = LimitedRequestsPerMinute.ToString(),
        ["Serve:RegistryResyncInterval"] = "00:00:02",
        ["Serve:AdapterImportDirectories:0"] = Directory, // the tests register lora{i}.gguf from here by path
    };

    /// <summary>A direct client of the test's Redis, to plant bad data.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync() => ConnectionMultiplexer.ConnectAsync(Redis.ConnectionString);

    public async Task DisposeAsync()
    {
        if (A is not null) await A.DisposeAsync();
        if (B is not null) await B.DisposeAsync();
        Redis?.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
