namespace Serve.Engine.Tests;

/// <summary>
/// The adapter pool's slots may be padded past MaxAdapterRank (on a GPU to a multiple of 64, for CUDA's tensor-core
/// mul_mat_id kernel). Padding is zeros, so it must not change what any request generates: checked here on the CPU
/// with the GPU's padding, for a batch that mixes adapters (mul_mat_id), one adapter alone (the uniform path) and two
/// adapters combined with scales.
/// </summary>
[Collection(EngineCollection.Name)]
public sealed class AdapterPoolRankTests(EngineFixture fixture)
{
    private static readonly (string Prompt, AdapterWeight[] Adapters)[] Cases =
    [
        ("Where is the market?", [new("a")]),
        ("Describe the river.", [new("b")]),
        ("Why do we learn?", [new("a", 0.5f), new("b", 1.5f)]),
        ("Tell me a short story.", []),
    ];

    private static GenerationRequest Request(string prompt, AdapterWeight[] adapters) =>
        Generation.Chat(prompt, maxTokens: 10) with { Adapters = adapters, Logprobs = true };

    [Fact]
    public async Task PaddedPoolRank_GeneratesWhatTheUnpaddedPoolDoes_MixedAndAlone()
    {
        var options = fixture.Options(fixture.AdapterDirectory("a", "b"));
        Assert.Equal(64, InferenceEngine.GpuPoolRank(options.MaxAdapterRank));

        async Task<GenerationResult[]> RunAsync(int? poolRank)
        {
            using var engine = InferenceEngine.Start(options with { AdapterPoolRank = poolRank });
            var mixed = await Task.WhenAll(Cases.Select(c => engine.CollectAsync(Request(c.Prompt, c.Adapters))));
            var alone = await engine.CollectAsync(Request(Cases[0].Prompt, Cases[0].Adapters));
            return [.. mixed, alone];
        }

        var plain = await RunAsync(null);
        var padded = await RunAsync(64);
        for (var i = 0; i < plain.Length; i++)
        {
            Assert.Equal(plain[i].Text, padded[i].Text);
            var a = plain[i].Deltas.SelectMany(d => d.Logprobs ?? []).Select(l => l.Logprob).ToArray();
            var b = padded[i].Deltas.SelectMany(d => d.Logprobs ?? []).Select(l => l.Logprob).ToArray();
            Assert.Equal(10, a.Length);
            Assert.Equal(a.Length, b.Length);
            for (var t = 0; t < a.Length; t++) Assert.True(Math.Abs(a[t] - b[t]) < 1e-3, $"case {i} token {t}: {a[t]} vs {b[t]}");
        }
    }

    [Fact]
    public void PoolRankBelowMaxAdapterRank_IsRefusedAtStart()
    {
        var e = Assert.Throws<ArgumentException>(() => InferenceEngine.Start(fixture.Options() with { MaxAdapterRank = 16, AdapterPoolRank = 8 }));
        Assert.Contains("AdapterPoolRank", e.Message);
    }

    [Fact]
    public void PoolTypeOtherThanF32F16OrQ8_0_IsRefusedAtStart()
    {
        var e = Assert.Throws<ArgumentException>(() => InferenceEngine.Start(fixture.Options() with { AdapterPoolType = Serve.Llama.Native.GgmlType.Q4_0 }));
        Assert.Contains("AdapterPoolType", e.Message);
    }

    [Fact]
    public void Q8_0Pool_RankNotAMultipleOf32_IsRefusedAtStart()
    {
        var e = Assert.Throws<ArgumentException>(() => InferenceEngine.Start(fixture.Options() with
        {
            AdapterPoolType = Serve.Llama.Native.GgmlType.Q8_0, AdapterPoolRank = 48,
        }));
        Assert.Contains("multiple of 32", e.Message);
    }

    [Fact]
    public void DefaultPoolRank_Q8_0ToWholeBlocks_F16AndF32To64OnAGpuOnly()
    {
        Assert.Equal(32, InferenceEngine.DefaultPoolRank(16, Serve.Llama.Native.GgmlType.Q8_0, onGpu: true));
        Assert.Equal(32, InferenceEngine.DefaultPoolRank(16, Serve.Llama.Native.GgmlType.Q8_0, onGpu: false));
        Assert.Equal(64, InferenceEngine.DefaultPoolRank(33, Serve.Llama.Native.GgmlType.Q8_0, onGpu: true));
        Assert.Equal(64, InferenceEngine.DefaultPoolRank(16, Serve.Llama.Native.GgmlType.F16, onGpu: true));
        Assert.Equal(16, InferenceEngine.DefaultPoolRank(16, Serve.Llama.Native.GgmlType.F16, onGpu: false));
    }
}
