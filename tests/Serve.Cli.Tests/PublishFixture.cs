using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serve.Cli;
using Serve.Models;
using Serve.Server.Hosting;
using Serve.Training.Data;

namespace Serve.Cli.Tests;

/// <summary>
/// A tiny made base model that learns the mood task in seconds, the mood datasets (learnable and label-shuffled),
/// and a real server (ServeApplication on Kestrel, a free loopback port) whose adapters directory is the registry,
/// as in the default layout (models/adapters).
/// </summary>
public sealed class PublishFixture : IAsyncLifetime
{
    public const string BaseName = "tiny";

    private WebApplication? _app;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("serve-cli-tests-").FullName;
    public string ModelPath { get; private set; } = "";
    public string Registry => Path.Combine(Directory, "adapters");
    public string MoodData => Path.Combine(Directory, "mood.jsonl");
    public string ShuffledData => Path.Combine(Directory, "mood-shuffled.jsonl");
    public Uri Server { get; private set; } = null!;

    /// <summary>Held-out prompts from another seed than the training data: new sentences.</summary>
    public IReadOnlyList<(string Prompt, string Completion)> HeldOut { get; } = MoodTaskDataset.Generate(12, seed: 999);

    public async Task InitializeAsync()
    {
        ModelPath = ModelMaker.BuildTestModel(Directory, new LlamaModelSpec
        {
            EmbeddingLength = 64, BlockCount = 2, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 128,
            ContextLength = 256, InitStd = 0.15f, Seed = 5, Name = BaseName, VocabSize = 512,
        });
        MoodTaskDataset.WriteJsonl(MoodData, 240, seed: 1);
        WriteShuffled(ShuffledData, 240, seed: 1);
        System.IO.Directory.CreateDirectory(Registry);

        _app = ServeApplication.Build(
        [
            "--urls", "http://127.0.0.1:0", "--model", ModelPath, "--model-name", BaseName, "--adapters", Registry,
            "--Serve:Engine:MaxSequences=4", "--Serve:Engine:ContextPerSequence=256", "--Serve:Engine:Threads=1",
        ], builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddFilter(_ => false);
        });
        await _app.StartAsync();
        await _app.Services.GetRequiredService<EngineHost>().Ready.WaitAsync(TimeSpan.FromSeconds(60));
        Server = new Uri(_app.Urls.First().TrimEnd('/') + "/");
    }

    /// <summary>The same sentences with their labels permuted: the label no longer follows from the sentence.</summary>
    private static void WriteShuffled(string path, int count, int seed)
    {
        var examples = MoodTaskDataset.Generate(count, seed);
        var labels = examples.Select(e => e.Completion).ToArray();
        new Random(5).Shuffle(labels);
        File.WriteAllLines(path, examples.Select((e, i) => JsonSerializer.Serialize(new Dictionary<string, string> { ["prompt"] = e.Prompt, ["completion"] = labels[i] })));
    }

    /// <summary>
    /// Runs <c>serve publish</c> in process against the fixture's server with short training settings (the mood task
    /// needs about 200 steps of the tiny model: a few seconds).
    /// </summary>
    public Task<(int Code, string Out, string Err)> PublishAsync(string data, string name, params string[] extra) =>
        RunAsync(["publish", data, name, "--base", ModelPath, "--registry", Registry, "--server", Server.ToString(),
            "--epochs", "8", "--batch-size", "8", "--lr", "5e-3", "--dropout", "0", "--eval-every", "40", "--threads", "1", .. extra]);

    public static Task<(int Code, string Out, string Err)> RunAsync(string[] args) => Task.Run(() =>
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = ServeCommandLine.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    });

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class PublishCollection : ICollectionFixture<PublishFixture>
{
    public const string Name = "publish";
}
