using Serve.Server.Hosting;

namespace Serve.Cli.Tests;

/// <summary><c>serve eval</c> and <c>serve make-demo-data</c> on the committed default model and demo adapter, through llama.cpp.</summary>
public sealed class EvalCommandTests
{
    private static string Models() =>
        Path.GetDirectoryName(DefaultModelLocator.Find([AppContext.BaseDirectory], out _) ?? throw new InvalidOperationException("models/base.gguf not found"))!;

    [Fact]
    public async Task Eval_DemoAdapter_ScoresAdapterAndBase_AndFailsBelowTheAskedRate()
    {
        var models = Models();
        string[] args = ["eval", "--base", Path.Combine(models, "base.gguf"), "--adapter", Path.Combine(models, "adapters", "mood.gguf"),
            "--data", Path.Combine(models, "data", "mood.heldout.jsonl"), "--pattern", "^mood: (positive|negative)$", "--show", "1"];
        var (code, stdout, stderr) = await PublishFixture.RunAsync([.. args, "--min-pattern-rate", "0.9"]);
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("| base | 0% | 0% |", stdout);
        Assert.Contains("| adapter mood | 100% | 100% |", stdout);
        Assert.Contains("adapter: mood: ", stdout);

        // An adapter without the behaviour (json, on mood prompts) is below the asked rate: exit 1.
        (code, _, stderr) = await PublishFixture.RunAsync(["eval", "--base", Path.Combine(models, "base.gguf"), "--adapter", Path.Combine(models, "adapters", "json.gguf"),
            "--data", Path.Combine(models, "data", "mood.heldout.jsonl"), "--pattern", "^mood: (positive|negative)$", "--min-pattern-rate", "0.5"]);
        Assert.Equal(1, code);
        Assert.Contains("below --min-pattern-rate", stderr);
    }

    [Fact]
    public async Task Eval_BadLinesOrBadOptions_Exit2WithTheReason()
    {
        var dir = Directory.CreateTempSubdirectory("serve-eval-").FullName;
        try
        {
            var bad = Path.Combine(dir, "bad.jsonl");
            await File.WriteAllLinesAsync(bad, ["{\"prompt\":1}", "not json"]);
            var basePath = Path.Combine(Models(), "base.gguf");
            var adapter = Path.Combine(Models(), "adapters", "mood.gguf");
            var (code, _, stderr) = await PublishFixture.RunAsync(["eval", "--base", basePath, "--adapter", adapter, "--data", bad]);
            Assert.Equal(2, code);
            Assert.Contains("line 1", stderr);
            Assert.Contains("line 2", stderr);
            (code, _, stderr) = await PublishFixture.RunAsync(["eval", "--base", basePath, "--adapter", adapter, "--data", bad, "--min-pattern-rate", "0.5"]);
            Assert.Equal(2, code);
            Assert.Contains("--min-pattern-rate needs --pattern", stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task MakeDemoData_WritesTheCommittedDatasets_ByteForByte()
    {
        var dir = Directory.CreateTempSubdirectory("serve-demo-data-").FullName;
        try
        {
            var (code, stdout, stderr) = await PublishFixture.RunAsync(["make-demo-data", "--out", dir]);
            Assert.True(code == 0, stderr);
            Assert.Contains("pirate: ", stdout);
            foreach (var file in Directory.GetFiles(Path.Combine(Models(), "data"), "*.jsonl"))
                Assert.Equal(await File.ReadAllTextAsync(file), await File.ReadAllTextAsync(Path.Combine(dir, Path.GetFileName(file))));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
