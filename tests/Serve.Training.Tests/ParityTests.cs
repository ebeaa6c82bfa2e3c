using Xunit.Abstractions;
using Serve.Gguf;
using Serve.Training.Export;
using Serve.Training.Lora;
using Serve.Training.Model;
using static TorchSharp.torch;

namespace Serve.Training.Tests;

[Collection(TrainingCollection.Name)]
public sealed class ParityTests(TrainingFixture fixture, ITestOutputHelper output)
{
    private static readonly int[] Tokens = [1, 40, 41, 42, 43, 44, 45, 300, 12, 77, 5, 260, 100, 101, 7, 9, 480, 33];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Logits_Float32Base_MatchLlamaCppWithin1e3(bool tied)
    {
        var path = tied ? fixture.TiedModelPath : fixture.ModelPath;
        using var model = LlamaForCausalLM.Load(path);
        Assert.Equal(tied, model.Config.TiedEmbeddings);
        var torchLogits = TorchLogits.Of(model, Tokens);
        var llamaLogits = LlamaCppReference.Logits(path, Tokens);

        Assert.True(LlamaCppReference.MaxAbs(llamaLogits) > 1f, "logits too small for a meaningful comparison");
        var diff = LlamaCppReference.MaxAbsDiff(torchLogits, llamaLogits);
        output.WriteLine($"max abs difference {diff:E2}, max abs logit {LlamaCppReference.MaxAbs(llamaLogits):F2}");
        Assert.True(diff <= 1e-3f, $"max abs difference {diff}");
    }

    [Fact]
    public void Logits_WithNonZeroAdapterExportedToGguf_MatchLlamaCppWithin1e3()
    {
        var lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0 };
        using var model = LlamaForCausalLM.Load(fixture.ModelPath, new LlamaLoadOptions { Lora = lora, Seed = 3 });
        var baseLogits = TorchLogits.Of(model, Tokens);
        // Stand-in for training here (the trainer tests export really trained adapters): B drawn non-zero.
        using (no_grad())
        {
            var generator = new Generator(5);
            foreach (var p in model.LoraLinears()) p.Linear.B.copy_(randn(p.Linear.B.shape, generator: generator) * 0.3);
        }
        var adapterPath = fixture.TempPath("parity-adapter.gguf");
        GgufAdapterWriter.Write(adapterPath, "llama", lora.Scale, GgufAdapterWriter.Factors(model));

        var torchLogits = TorchLogits.Of(model, Tokens);
        var llamaLogits = LlamaCppReference.Logits(fixture.ModelPath, Tokens, adapterPath);
        Assert.True(LlamaCppReference.MaxAbsDiff(baseLogits, torchLogits) > 0.1f, "the adapter should change the logits");
        var diff = LlamaCppReference.MaxAbsDiff(torchLogits, llamaLogits);
        output.WriteLine($"max abs difference {diff:E2}, max abs logit {LlamaCppReference.MaxAbs(llamaLogits):F2}");
        Assert.True(diff <= 1e-3f, $"max abs difference {diff}");
    }

    [Fact]
    public void Logits_RsLoraAdapter_ScaleCarriedThroughAlpha()
    {
        var lora = new LoraOptions { Rank = 8, Alpha = 4, Dropout = 0, RsLora = true, Targets = ["q", "v", "down"] };
        using var model = LlamaForCausalLM.Load(fixture.TiedModelPath, new LlamaLoadOptions { Lora = lora, Seed = 4 });
        using (no_grad())
        {
            var generator = new Generator(6);
            foreach (var p in model.LoraLinears()) p.Linear.B.copy_(randn(p.Linear.B.shape, generator: generator) * 0.3);
        }
        var adapterPath = fixture.TempPath("parity-rslora.gguf");
        GgufAdapterWriter.Write(adapterPath, "llama", lora.Scale, GgufAdapterWriter.Factors(model));
        using (var file = GgufFile.Read(adapterPath)) Assert.Equal(4f * MathF.Sqrt(8), file.GetFloat32("adapter.lora.alpha")!.Value, 4);

        var diff = LlamaCppReference.MaxAbsDiff(TorchLogits.Of(model, Tokens), LlamaCppReference.Logits(fixture.TiedModelPath, Tokens, adapterPath));
        output.WriteLine($"max abs difference {diff:E2}");
        Assert.True(diff <= 1e-3f, $"max abs difference {diff}");
    }

    [Theory]
    [InlineData(GgmlType.F16, 2e-2f)]
    [InlineData(GgmlType.BF16, 5e-2f)]
    [InlineData(GgmlType.Q8_0, 5e-2f)]
    [InlineData(GgmlType.Q4_0, 0.2f)]
    public void Logits_QuantizedBase_CloseToLlamaCpp(GgmlType type, float tolerance)
    {
        // llama.cpp also rounds activations for these types (F16 / Q8_0 dot products), so the match is looser,
        // but far below the logit scale: the weights were read in the right layout.
        var path = fixture.Convert(fixture.ModelPath, type);
        using var model = LlamaForCausalLM.Load(path);
        var llamaLogits = LlamaCppReference.Logits(path, Tokens);
        var diff = LlamaCppReference.MaxAbsDiff(TorchLogits.Of(model, Tokens), llamaLogits);
        output.WriteLine($"{type}: max abs difference {diff:E2}, max abs logit {LlamaCppReference.MaxAbs(llamaLogits):F2}");
        Assert.True(diff <= tolerance * LlamaCppReference.MaxAbs(llamaLogits), $"max abs difference {diff} vs max logit {LlamaCppReference.MaxAbs(llamaLogits)}");
    }
}
