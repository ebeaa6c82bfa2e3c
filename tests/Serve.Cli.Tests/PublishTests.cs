using System.ClientModel;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using OpenAI;
using OpenAI.Chat;
using Serve.Cli.Publishing;
using Serve.Redis;
using Serve.Redis.Registry;
using Xunit.Abstractions;

namespace Serve.Cli.Tests;

/// <summary>
/// <c>serve publish</c> end to end: real training, the engine's behaviour check, the file registry, a real server
/// told over its admin API, and the official OpenAI SDK asking the published adapter.
/// </summary>
[Collection(PublishCollection.Name)]
public sealed class PublishTests(PublishFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Publish_LearnableDataset_AdapterAnswersThroughTheServerWithItsTrainedBehaviour_BaseDoesNot()
    {
        Assert.False(File.Exists(Path.Combine(fixture.Registry, "mood.gguf")));

        var (code, stdout, stderr) = await fixture.PublishAsync(fixture.MoodData, "mood");
        output.WriteLine(stdout + stderr);

        Assert.True(code == 0, stderr + stdout);
        for (var stage = 1; stage <= 6; stage++) Assert.Contains($"[{stage}/6]", stdout);
        Assert.Contains("lr 0.005", stdout); // every setting, defaults included, printed first
        Assert.Contains("rank 8 alpha 16", stdout);
        Assert.Contains("passed", stdout);
        Assert.Contains("answer:   mood: ", stdout); // the live request at the end
        var history = new AdapterFileRegistry(fixture.Registry).Read("mood");
        var version = Assert.Single(history.Versions);
        Assert.Equal(version.Sha256, AdapterFileRegistry.Sha256(Path.Combine(fixture.Registry, "mood.gguf")));
        Assert.True(version.Eval!.AdapterMatch >= 0.8 && version.Eval.AdapterLoss < version.Eval.BaseLoss);
        Assert.Equal(version.Sha256, await ServedVersionAsync("mood"));

        var adapter = await MatchRateAsync("mood");
        var baseline = await MatchRateAsync(PublishFixture.BaseName);
        output.WriteLine($"through /v1/chat/completions: adapter {adapter:P0}, base {baseline:P0} on {fixture.HeldOut.Count} new prompts");
        Assert.True(adapter >= 0.75, $"adapter matched {adapter:P0}");
        Assert.True(baseline <= 0.1, $"base matched {baseline:P0}");
    }

    [Fact]
    public async Task Publish_ShuffledLabels_RefusedByTheGateWithTheNumbers_PreviousVersionKeepsServing()
    {
        var (code, stdout, stderr) = await fixture.PublishAsync(fixture.MoodData, "gated");
        Assert.True(code == 0, stderr + stdout);
        var registry = new AdapterFileRegistry(fixture.Registry);
        var before = registry.Read("gated");
        var current = File.ReadAllBytes(registry.CurrentPath("gated"));

        (code, stdout, stderr) = await fixture.PublishAsync(fixture.ShuffledData, "gated");
        output.WriteLine(stdout + stderr);

        Assert.Equal(3, code);
        Assert.Contains("held-out loss", stdout);
        Assert.Contains("FAIL held-out match", stdout);
        Assert.Contains($"version {before.CurrentVersion!.Version} keeps serving", stdout);
        Assert.DoesNotContain("[4/6]", stdout);
        var after = registry.Read("gated");
        Assert.Equal(before.Versions.Select(v => v.Version), after.Versions.Select(v => v.Version));
        Assert.Equal(current, File.ReadAllBytes(registry.CurrentPath("gated")));
        Assert.Single(Directory.GetFiles(Path.Combine(fixture.Registry, AdapterFileRegistry.VersionsFolder, "gated"), "*.gguf"));
        Assert.Equal(before.CurrentVersion.Sha256, await ServedVersionAsync("gated"));
        Assert.True(await MatchRateAsync("gated") >= 0.75);
    }

    [Fact]
    public async Task Republish_MakesANewVersion_RollbackServesThePreviousAgain_AlsoInRedis()
    {
        using var redis = new RedisServer();
        var (code, stdout, stderr) = await fixture.PublishAsync(fixture.MoodData, "versioned", "--redis", redis.ConnectionString);
        Assert.True(code == 0, stderr + stdout);
        // Another seed: another split and initialisation, so other bytes: a new version.
        (code, stdout, stderr) = await fixture.PublishAsync(fixture.MoodData, "versioned", "--seed", "3", "--redis", redis.ConnectionString);
        output.WriteLine(stdout + stderr);
        Assert.True(code == 0, stderr + stdout);

        var registry = new AdapterFileRegistry(fixture.Registry);
        var history = registry.Read("versioned");
        Assert.Equal(2, history.Versions.Count);
        var (first, second) = (history.Versions[0], history.Versions[1]);
        Assert.NotEqual(first.Sha256, second.Sha256);
        Assert.Equal(second.Version, history.CurrentVersion!.Version);
        Assert.Equal(second.Sha256, await ServedVersionAsync("versioned"));
        Assert.Equal(second.Sha256, await RedisCurrentAsync(redis, "versioned"));

        (code, stdout, stderr) = await PublishFixture.RunAsync(["versions", "--name", "versioned", "--registry", fixture.Registry]);
        output.WriteLine(stdout);
        Assert.Equal(0, code);
        Assert.Contains("* " + second.Version, stdout);
        Assert.Contains("  " + first.Version, stdout);

        (code, stdout, stderr) = await PublishFixture.RunAsync(["rollback", "--name", "versioned", "--registry", fixture.Registry,
            "--server", fixture.Server.ToString(), "--redis", redis.ConnectionString]);
        output.WriteLine(stdout + stderr);
        Assert.True(code == 0, stderr + stdout);
        Assert.Equal(first.Sha256, AdapterFileRegistry.Sha256(registry.CurrentPath("versioned")));
        Assert.Equal(first.Sha256, await ServedVersionAsync("versioned"));
        Assert.Equal(first.Sha256, await RedisCurrentAsync(redis, "versioned"));
        Assert.True(await MatchRateAsync("versioned") >= 0.75);

        // Nothing earlier than the first version: refused, and the registry is left as it was.
        (code, _, stderr) = await PublishFixture.RunAsync(["rollback", "--name", "versioned", "--registry", fixture.Registry, "--no-server"]);
        Assert.Equal(2, code);
        Assert.Contains("no earlier version", stderr);
        Assert.Equal(first.Sha256, AdapterFileRegistry.Sha256(registry.CurrentPath("versioned")));

        // --to: straight to a given version (a prefix is enough).
        (code, stdout, stderr) = await PublishFixture.RunAsync(["rollback", "--name", "versioned", "--to", second.Version[..8], "--registry", fixture.Registry,
            "--server", fixture.Server.ToString()]);
        Assert.True(code == 0, stderr + stdout);
        Assert.Equal(second.Sha256, await ServedVersionAsync("versioned"));
    }

    [Fact]
    public async Task Publish_UnreachableReplica_IsReportedAndTheExitCodeSaysSo()
    {
        var (code, stdout, stderr) = await PublishFixture.RunAsync(["publish", fixture.MoodData, "unreached", "--base", fixture.ModelPath,
            "--registry", fixture.Registry, "--server", fixture.Server.ToString(), "--server", "http://127.0.0.1:9",
            "--max-steps", "2", "--no-gate", "--threads", "1", "--eval-samples", "2"]);
        output.WriteLine(stdout + stderr);

        Assert.Equal(5, code);
        Assert.Contains("WARNING http://127.0.0.1:9/: not reachable", stdout);
        Assert.Contains("ignored (--no-gate)", stdout);
        Assert.Contains($"{fixture.Server}: loaded", stdout); // the reachable one still got it
    }

    [Fact]
    public async Task Publish_ReplicaServesAnotherBase_RefusedBeforeTraining_NothingPublished()
    {
        var otherBase = Serve.Models.ModelMaker.BuildTestModel(fixture.Directory, new Serve.Models.LlamaModelSpec
        {
            EmbeddingLength = 64, BlockCount = 2, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 128, ContextLength = 256, Seed = 9, Name = "other", VocabSize = 512,
        });
        var (code, stdout, stderr) = await PublishFixture.RunAsync(["publish", fixture.MoodData, "elsewhere", "--base", otherBase,
            "--registry", fixture.Registry, "--server", fixture.Server.ToString(), "--threads", "1"]);

        Assert.Equal(2, code);
        Assert.Contains("it would refuse this adapter", stdout);
        Assert.Contains("another base model", stderr);
        Assert.DoesNotContain("[1/6]", stdout);
        Assert.False(File.Exists(Path.Combine(fixture.Registry, "elsewhere.gguf")));
        Assert.False(Directory.Exists(Path.Combine(fixture.Registry, AdapterFileRegistry.VersionsFolder, "elsewhere")));
    }

    [Fact]
    public async Task Publish_BadDatasetLines_Exit2WithLineNumbers_NothingPublished()
    {
        var data = Path.Combine(fixture.Directory, "broken.jsonl");
        File.WriteAllLines(data, ["""{"prompt":"a","completion":"b"}""", "{broken"]);
        var (code, stdout, stderr) = await PublishFixture.RunAsync(["publish", data, "broken", "--base", fixture.ModelPath,
            "--registry", fixture.Registry, "--server", fixture.Server.ToString()]);

        Assert.Equal(2, code);
        Assert.Contains("line 2: not valid JSON", stderr);
        Assert.Contains("[1/6] train", stdout);
        Assert.False(File.Exists(Path.Combine(fixture.Registry, "broken.gguf")));
    }

    [Fact]
    public async Task Publish_TrainingFails_Exit4_NothingPublished()
    {
        // The CPU build of TorchSharp cannot start CUDA: the run fails in stage 1, after the data was read.
        var (code, stdout, stderr) = await PublishFixture.RunAsync(["publish", fixture.MoodData, "failing", "--base", fixture.ModelPath,
            "--registry", fixture.Registry, "--server", fixture.Server.ToString(), "--device", "cuda", "--threads", "1"]);
        output.WriteLine(stdout + stderr);

        Assert.Equal(4, code);
        Assert.Contains("publishing 'failing' failed", stderr);
        Assert.Contains("'failing' was not published", stdout);
        Assert.False(File.Exists(Path.Combine(fixture.Registry, "failing.gguf")));
        using var http = new HttpClient { BaseAddress = fixture.Server };
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync("admin/adapters/failing")).StatusCode);
    }

    private async Task<string?> ServedVersionAsync(string name)
    {
        using var http = new HttpClient { BaseAddress = fixture.Server };
        var view = await http.GetFromJsonAsync<JsonElement>($"admin/adapters/{name}");
        return view.GetProperty("version").GetString();
    }

    private async Task<double> MatchRateAsync(string model)
    {
        var client = new ChatClient(model, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(fixture.Server, "v1") });
        var matches = 0;
        foreach (var (prompt, completion) in fixture.HeldOut)
        {
            ChatCompletion answer = await client.CompleteChatAsync([new UserChatMessage(prompt)], new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = 12 });
            if (answer.Content.Count > 0 && answer.Content[0].Text.Trim() == completion) matches++;
        }
        return matches / (double)fixture.HeldOut.Count;
    }

    private static async Task<string?> RedisCurrentAsync(RedisServer redis, string name)
    {
        await using var store = await RedisStore.ConnectAsync(redis.ConnectionString, NullLogger.Instance);
        return (await new RedisAdapterRegistry(store).GetCurrentAsync(name))?.Version;
    }
}
