namespace Serve.Engine.Tests;

/// <summary>
/// The adapter pool's slots may be padded past MaxAdapterRank (AdapterPoolRank; Q8_0 pads to whole 32-value blocks,
/// a GPU to a power of two). Padding is zeros, so it must not change what any request generates: checked here on the
/// CPU with rank 64, for a batch that mixes adapters, one adapter alone and two adapters combined with scales.
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
        Assert.True(options.MaxAdapterRank < 64);

        async Task<GenerationResult[]> RunAsync(int? poolRank)
        {
            using var engine = InferenceEngine.Start(options with { AdapterPoolRank = poolRank });
            var mixed = await Task.WhenAll(Cases.Select(c => engine.CollectAsync(Request(c.Prompt, c.Adapters))));
            var alone = await engine.CollectAsync(Request(Cases[0].Prompt, Cases[0].Adapters));
            return [.. mixed, alone];
        }

        AssertSameGenerations(await RunAsync(null), await RunAsync(64));
    }

    // The pool a GPU gets (rank 16 slots, four to a 64-row mul_mat_id expert, one-slot batches on views), run on the
    // CPU through AdapterPoolGpuForm, against the CPU's own pool, both with F32 factors: the same text and
    // log-probabilities within 1e-3. Three slots, one expert: the second wave's adapters evict the first's and load
    // into the expert's rows beside adapters that running requests are decoding with.
    [Fact]
    public async Task GpuPoolForm_SlotsSharingExperts_GeneratesWhatTheCpuPoolDoes()
    {
        var options = fixture.Options(fixture.AdapterDirectory("a", "b", "c", "d", "a2")) with
        {
            MaxLoadedAdapters = 3, AdapterPoolType = Serve.Llama.Native.GgmlType.F32,
        };
        (string, AdapterWeight[])[] second =
        [
            ("Where is the market?", [new("c")]),
            ("Describe the river.", [new("d"), new("c", 0.5f)]),
            ("Why do we learn?", [new("a2")]),
        ];

        async Task<GenerationResult[]> RunAsync(bool gpuForm)
        {
            using var engine = InferenceEngine.Start(options with { AdapterPoolGpuForm = gpuForm });
            var pool = engine.AdapterPool;
            Assert.Equal(gpuForm ? (16, 64) : (16, 16), (pool.MaxRank, pool.ExpertRows));
            var first = await Task.WhenAll(Cases.Select(c => engine.CollectAsync(Request(c.Prompt, c.Adapters))));
            var then = await Task.WhenAll(second.Select(c => engine.CollectAsync(Request(c.Item1, c.Item2))));
            return [.. first, .. then];
        }

        AssertSameGenerations(await RunAsync(false), await RunAsync(true));
    }

    // Same text, and all 10 tokens' log-probabilities within 1e-3, request by request.
    private static void AssertSameGenerations(GenerationResult[] expected, GenerationResult[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Text, actual[i].Text);
            var a = expected[i].Deltas.SelectMany(d => d.Logprobs ?? []).Select(l => l.Logprob).ToArray();
            var b = actual[i].Deltas.SelectMany(d => d.Logprobs ?? []).Select(l => l.Logprob).ToArray();
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
    public void DefaultPoolRank_Q8_0ToWholeBlocks_F16AndF32ToAPowerOfTwoOnAGpuOnly()
    {
        Assert.Equal(32, InferenceEngine.DefaultPoolRank(16, Serve.Llama.Native.GgmlType.Q8_0, onGpu: true));
        Assert.Equal(32, InferenceEngine.DefaultPoolRank(16, Serve.Llama.Native.GgmlType.Q8_0, onGpu: false));
        Assert.Equal(64, InferenceEngine.DefaultPoolRank(33, Serve.Llama.Native.GgmlType.Q8_0, onGpu: true));
        Assert.Equal(16, InferenceEngine.DefaultPoolRank(16, Serve.Llama.Native.GgmlType.F16, onGpu: true));
        Assert.Equal(32, InferenceEngine.DefaultPoolRank(24, Serve.Llama.Native.GgmlType.F16, onGpu: true));
        Assert.Equal(64, InferenceEngine.DefaultPoolRank(48, Serve.Llama.Native.GgmlType.F32, onGpu: true));
        Assert.Equal(128, InferenceEngine.DefaultPoolRank(80, Serve.Llama.Native.GgmlType.F16, onGpu: true));
        Assert.Equal(24, InferenceEngine.DefaultPoolRank(24, Serve.Llama.Native.GgmlType.F16, onGpu: false));
    }

    [Fact]
    public void PoolExpertRows_64RowExpertsOnAGpuWhereSlotsFitThem_ElseOneSlotAnExpert()
    {
        Assert.Equal(64, InferenceEngine.PoolExpertRows(16, Serve.Llama.Native.GgmlType.F16, onGpu: true));   // four slots an expert
        Assert.Equal(64, InferenceEngine.PoolExpertRows(8, Serve.Llama.Native.GgmlType.F32, onGpu: true));
        Assert.Equal(128, InferenceEngine.PoolExpertRows(128, Serve.Llama.Native.GgmlType.F16, onGpu: true));
        Assert.Equal(24, InferenceEngine.PoolExpertRows(24, Serve.Llama.Native.GgmlType.F16, onGpu: true));   // 64 is no whole number of slots
        Assert.Equal(32, InferenceEngine.PoolExpertRows(32, Serve.Llama.Native.GgmlType.Q8_0, onGpu: true));  // a Q8_0 block never spans two slots
        Assert.Equal(16, InferenceEngine.PoolExpertRows(16, Serve.Llama.Native.GgmlType.F16, onGpu: false));
    }
}
