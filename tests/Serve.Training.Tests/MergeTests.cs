using Serve.Gguf;
using Serve.Training.Export;
using Serve.Training.Lora;
using Serve.Training.Model;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Serve.Training.Tests;

/// <summary><c>serve merge</c>: llama.cpp's logits of the merged file equal its logits of base + adapter.</summary>
[Collection(TrainingCollection.Name)]
public sealed class MergeTests(ArchitectureFixture fixture, ITestOutputHelper output)
{
    private static readonly int[] Prompt = [1, 40, 41, 42, 43, 44, 45, 300, 12, 77, 5, 260, 100, 101, 7, 9, 480, 33];

    [Theory]
    [InlineData("llama")]
    [InlineData("phi3")]
    [InlineData("gemma2")]
    public void Merge_Cli_MergedModelLogitsEqualBasePlusAdapterWithin1e3(string architecture)
    {
        var basePath = fixture.ModelPath(architecture);
        var lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0, Targets = ["q", "k", "v", "o", "gate", "up", "down"] };
        var adapterPath = fixture.TempPath($"{architecture}-merge-adapter.gguf");
        using (var model = LlamaForCausalLM.Load(basePath, new LlamaLoadOptions { Lora = lora, Seed = 12 }))
        {
            using var noGrad = no_grad();
            var generator = new Generator(13);
            foreach (var p in model.LoraLinears()) p.Linear.B.copy_(randn(p.Linear.B.shape, generator: generator) * 0.3);
            GgufAdapterWriter.Write(adapterPath, model.Config.Architecture, lora.Scale, GgufAdapterWriter.Factors(model));
        }
        var mergedPath = fixture.TempPath($"{architecture}-merged.gguf");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = Serve.Cli.ServeCommandLine.Run(["merge", "--base", basePath, "--adapter", adapterPath, "--out", mergedPath], stdout, stderr);
        Assert.True(exit == 0, stderr.ToString());
        output.WriteLine(stdout.ToString().Trim());

        using (var merged = GgufFile.Read(mergedPath))
        using (var original = GgufFile.Read(basePath))
        {
            Assert.Equal(original.Tensors.Select(t => t.Name), merged.Tensors.Select(t => t.Name));
            Assert.Equal(original.Architecture, merged.Architecture);
        }
        var withAdapter = LlamaCppReference.Logits(basePath, Prompt, adapterPath);
        var baseOnly = LlamaCppReference.Logits(basePath, Prompt);
        var mergedLogits = LlamaCppReference.Logits(mergedPath, Prompt);
        var diff = LlamaCppReference.MaxAbsDiff(mergedLogits, withAdapter);
        output.WriteLine($"{architecture}: merged vs base + adapter max abs difference {diff:E2}; adapter moved logits by {LlamaCppReference.MaxAbsDiff(baseOnly, withAdapter):F2}");
        Assert.True(LlamaCppReference.MaxAbsDiff(baseOnly, withAdapter) > 0.1f, "the adapter should change the logits");
        Assert.True(diff <= 1e-3f, $"max abs difference {diff}");
    }

    [Fact]
    public void Merge_AdapterForAnotherArchitecture_RefusedWithAClearError()
    {
        var lora = new LoraOptions { Rank = 2, Alpha = 2, Dropout = 0, Targets = ["q"] };
        var adapterPath = fixture.TempPath("qwen2-for-merge.gguf");
        using (var model = LlamaForCausalLM.Load(fixture.ModelPath("qwen2"), new LlamaLoadOptions { Lora = lora }))
            GgufAdapterWriter.Write(adapterPath, "qwen2", lora.Scale, GgufAdapterWriter.Factors(model));
        var stderr = new StringWriter();
        var exit = Serve.Cli.ServeCommandLine.Run(["merge", "--base", fixture.ModelPath("llama"), "--adapter", adapterPath, "--out", fixture.TempPath("never.gguf")], new StringWriter(), stderr);
        Assert.Equal(2, exit);
        Assert.Contains("'qwen2'", stderr.ToString());
        Assert.False(File.Exists(fixture.TempPath("never.gguf")));
    }
}
