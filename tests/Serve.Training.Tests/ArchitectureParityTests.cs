using Serve.Gguf;
using Serve.Training.Export;
using Serve.Training.Lora;
using Serve.Training.Model;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Serve.Training.Tests;

/// <summary>
/// For every supported architecture, the TorchSharp model's logits against llama.cpp's (real decode through
/// Serve.Llama, F32 KV cache, no flash attention) on several prompts: the base, and the base with an adapter on every
/// target exported to GGUF and loaded by llama.cpp (phi3's fused tensors included).
/// </summary>
[Collection(TrainingCollection.Name)]
public sealed class ArchitectureParityTests(ArchitectureFixture fixture, ITestOutputHelper output)
{
    public static TheoryData<string> Architectures => [.. ArchitectureFixture.Specs.Keys];

    /// <summary>Three prompts of 20+ tokens: longer than the gemma cases' sliding window of 5.</summary>
    private static readonly int[][] Prompts =
    [
        [1, 40, 41, 42, 43, 44, 45, 300, 12, 77, 5, 260, 100, 101, 7, 9, 480, 33, 61, 62],
        [1, 500, 3, 3, 3, 271, 272, 273, 274, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 150, 151, 152],
        [1, 11, 300, 301, 302, 17, 18, 19, 20, 400, 401, 402, 403, 404, 21, 22, 23, 24, 25, 26, 27, 28, 29],
    ];

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Logits_Base_MatchLlamaCppWithin1e3(string architecture)
    {
        var path = fixture.ModelPath(architecture);
        using var model = LlamaForCausalLM.Load(path);
        Assert.Equal(ArchitectureFixture.Specs[architecture].Architecture, model.Config.Architecture);
        var worst = 0f;
        foreach (var prompt in Prompts)
        {
            var llama = LlamaCppReference.Logits(path, prompt);
            Assert.True(LlamaCppReference.MaxAbs(llama) > 1f, "logits too small for a meaningful comparison");
            worst = Math.Max(worst, LlamaCppReference.MaxAbsDiff(TorchLogits.Of(model, prompt), llama));
        }
        output.WriteLine($"{architecture} base: max abs difference {worst:E2} over {Prompts.Length} prompts");
        Assert.True(worst <= 1e-3f, $"{architecture}: max abs difference {worst}");
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Logits_WithAdapterExportedToGguf_MatchLlamaCppWithin1e3(string architecture)
    {
        var path = fixture.ModelPath(architecture);
        var lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0 };
        using var model = LlamaForCausalLM.Load(path, new LlamaLoadOptions { Lora = lora, Seed = 3 });
        var before = TorchLogits.Of(model, Prompts[0]);
        RandomizeB(model, seed: 5);
        var adapterPath = fixture.TempPath($"{architecture}-adapter.gguf");
        GgufAdapterWriter.Write(adapterPath, model.Config.Architecture, lora.Scale, GgufAdapterWriter.Factors(model));

        Assert.True(LlamaCppReference.MaxAbsDiff(before, TorchLogits.Of(model, Prompts[0])) > 0.1f, "the adapter should change the logits");
        var worst = 0f;
        foreach (var prompt in Prompts)
            worst = Math.Max(worst, LlamaCppReference.MaxAbsDiff(TorchLogits.Of(model, prompt), LlamaCppReference.Logits(path, prompt, adapterPath)));
        output.WriteLine($"{architecture} base + adapter: max abs difference {worst:E2} over {Prompts.Length} prompts");
        Assert.True(worst <= 1e-3f, $"{architecture}: max abs difference {worst}");
    }

    [Fact]
    public void Adapter_Phi3FusedTensors_WrittenAsLlamaCppLoadsThemAndReadBackIntoParts()
    {
        var path = fixture.ModelPath("phi3");
        var lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0, Targets = ["q", "v", "up", "down"] };
        using var model = LlamaForCausalLM.Load(path, new LlamaLoadOptions { Lora = lora, Seed = 7 });
        RandomizeB(model, seed: 8);
        var factors = GgufAdapterWriter.Factors(model);
        var adapterPath = fixture.TempPath("phi3-partial.gguf");
        GgufAdapterWriter.Write(adapterPath, "phi3", lora.Scale, factors);

        using (var file = GgufFile.Read(adapterPath))
        {
            // q and v share attn_qkv's one pair (rank 2 x 4); up is ffn_up's second half (rank 4); down is plain.
            Assert.Equal([64L, 8L], file.GetTensor("blk.0.attn_qkv.weight.lora_a").Shape);
            Assert.Equal([8L, 64L + 2 * 32], file.GetTensor("blk.0.attn_qkv.weight.lora_b").Shape);
            Assert.Equal([4L, 256L], file.GetTensor("blk.1.ffn_up.weight.lora_b").Shape);
            Assert.False(file.TryGetTensor("blk.0.attn_q.weight.lora_a", out _));
        }
        var (read, scale, architecture) = GgufAdapterWriter.Read(adapterPath);
        Assert.Equal("phi3", architecture);
        Assert.Equal(lora.Scale, scale, 6);
        Assert.Equal(factors.Count, read.Count);
        foreach (var f in factors)
        {
            var back = read.Single(r => r.Layer == f.Layer && r.Target == f.Target);
            Assert.Equal(f.A, back.A);
            Assert.Equal(f.B.Length, back.B.Length);
            for (var i = 0; i < f.B.Length; i++) Assert.Equal(f.B[i], back.B[i], 5);
        }
        var prompt = Prompts[1];
        var diff = LlamaCppReference.MaxAbsDiff(TorchLogits.Of(model, prompt), LlamaCppReference.Logits(path, prompt, adapterPath));
        output.WriteLine($"phi3 q,v,up,down adapter: max abs difference {diff:E2}");
        Assert.True(diff <= 1e-3f, $"max abs difference {diff}");
    }

    [Theory]
    [InlineData("qwen2", GgmlType.Q8_0)]
    [InlineData("gemma2", GgmlType.Q8_0)]
    [InlineData("phi3", GgmlType.Q8_0)]
    [InlineData("llama", GgmlType.F16)]
    [InlineData("qwen3", GgmlType.BF16)]
    [InlineData(ArchitectureFixture.KQuant, GgmlType.Q4_K)]
    [InlineData(ArchitectureFixture.KQuant, GgmlType.Q6_K)]
    public void Logits_QuantizedBaseWithAdapter_MatchLlamaCppOnTheSameWeightsWithin1e3(string architecture, GgmlType type)
    {
        var path = fixture.Quantized(architecture, type);
        var lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0 };
        using var model = LlamaForCausalLM.Load(path, new LlamaLoadOptions { Lora = lora, Seed = 3 });
        RandomizeB(model, seed: 9);
        var adapterPath = fixture.TempPath($"{architecture}-{type}-adapter.gguf");
        GgufAdapterWriter.Write(adapterPath, model.Config.Architecture, lora.Scale, GgufAdapterWriter.Factors(model));
        var torch = TorchLogits.Of(model, Prompts[0]);

        // Exact: the same decoded weights in llama.cpp.
        var exact = LlamaCppReference.MaxAbsDiff(torch, LlamaCppReference.Logits(fixture.Dequantized(architecture, type), Prompts[0], adapterPath));
        // Close: llama.cpp on the quantised file also rounds activations (to Q8_0/Q8_K for its quantised dot products,
        // F16 for F16/BF16), which the trainer does not: a few percent of the logit scale on these random weights, while a
        // wrong block layout would be of the order of the logits themselves.
        var served = LlamaCppReference.Logits(path, Prompts[0], adapterPath);
        var close = LlamaCppReference.MaxAbsDiff(torch, served);
        output.WriteLine($"{architecture} {type} + adapter: max abs difference {exact:E2} against its decoded weights, {close:E2} against the quantised file (max abs logit {LlamaCppReference.MaxAbs(served):F2})");
        Assert.True(exact <= 1e-3f, $"max abs difference {exact} on the same weights");
        Assert.True(close <= 0.15f * LlamaCppReference.MaxAbs(served), $"max abs difference {close} against the quantised file");
    }

    private static void RandomizeB(LlamaForCausalLM model, int seed)
    {
        // Stand-in for training (the training tests export really trained adapters): B drawn non-zero.
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed);
        foreach (var p in model.LoraLinears()) p.Linear.B.copy_(randn(p.Linear.B.shape, generator: generator) * 0.3);
    }
}
