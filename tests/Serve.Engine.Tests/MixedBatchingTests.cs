namespace Serve.Engine.Tests;

/// <summary>
/// Mixed batching (every adapter in one llama_decode, LoRA applied per token by BatchedLora) against llama.cpp's own
/// LoRA (grouped batching sets the adapters on the context): same tokens, same log-probabilities.
/// </summary>
[Collection(EngineCollection.Name)]
public sealed class MixedBatchingTests(EngineFixture fixture)
{
    private static GenerationRequest Request(string prompt, IReadOnlyList<AdapterWeight> adapters, int maxTokens = 12) =>
        Generation.Chat(prompt, maxTokens: maxTokens) with { Adapters = adapters, Logprobs = true, TopLogprobs = 5 };

    private static readonly (string Prompt, AdapterWeight[] Adapters)[] Cases =
    [
        ("Where is the market?", [new("a")]),
        ("Describe the river.", [new("b")]),
        ("Count to five.", [new("c")]),                                     // rank 8 on attn_q, attn_v and ffn_down
        ("Why do we learn?", [new("a", 0.5f), new("c", 1.5f)]),             // two adapters with scales
        ("Tell me a short story.", []),                                     // the base model in the same batches
        ("Write a letter to a friend.", [new("b", 2f)]),
        ("Describe the seasons.", [new("d")]),                              // attn_k, ffn_gate, ffn_up and output.weight
    ];

    [Fact]
    public async Task MixedBatches_MatchLlamaCppsOwnLora_TokenForToken()
    {
        var adapters = fixture.AdapterDirectory("a", "b", "c", "d");
        List<GenerationResult> reference = [];
        using (var grouped = InferenceEngine.Start(fixture.Options(adapters) with { AdapterBatching = AdapterBatching.Grouped, PrefixCache = false }))
        {
            Assert.Equal(AdapterBatching.Grouped, grouped.AdapterBatching);
            foreach (var (prompt, weights) in Cases) reference.Add(await grouped.CollectAsync(Request(prompt, weights)));
        }
        using var mixed = InferenceEngine.Start(fixture.Options(adapters) with { AdapterBatching = AdapterBatching.Mixed, PrefixCache = false });
        Assert.Equal(AdapterBatching.Mixed, mixed.AdapterBatching);
        // All at once: prompt chunks of some sequences share decodes with generated tokens of the others.
        var together = await Task.WhenAll(Cases.Select(c => Task.Run(() => mixed.CollectAsync(Request(c.Prompt, c.Adapters)))));

        for (var i = 0; i < Cases.Length; i++)
        {
            Assert.Equal(reference[i].Text, together[i].Text);
            var expected = reference[i].Deltas.SelectMany(d => d.Logprobs ?? []).ToList();
            var actual = together[i].Deltas.SelectMany(d => d.Logprobs ?? []).ToList();
            Assert.Equal(12, expected.Count);
            Assert.Equal(expected.Count, actual.Count);
            for (var t = 0; t < expected.Count; t++)
            {
                Assert.Equal(expected[t].Token, actual[t].Token);
                Assert.True(Math.Abs(expected[t].Logprob - actual[t].Logprob) < 1e-3, $"case {i} token {t}: logprob {actual[t].Logprob} vs llama.cpp's {expected[t].Logprob}");
                foreach (var (e, a) in expected[t].TopLogprobs.Zip(actual[t].TopLogprobs))
                    Assert.True(Math.Abs(e.Logprob - a.Logprob) < 1e-3, $"case {i} token {t}: top logprob of {a.Token} {a.Logprob} vs {e.Logprob}");
            }
        }
        // The adapters matter: each adapter case differs from the base model's answer to the same prompt.
        var baseAnswer = await mixed.CollectAsync(Request(Cases[0].Prompt, []));
        Assert.NotEqual(baseAnswer.Text, together[0].Text);
    }

    [Fact]
    public async Task MixedBatching_DecodesEveryAdapterInOneCallPerStep()
    {
        using var engine = InferenceEngine.Start(fixture.Options(fixture.AdapterDirectory("a", "b", "a2", "c")) with
        {
            AdapterBatching = AdapterBatching.Mixed, MaxLoadedAdapters = 4,
        });
        string?[] adapters = ["a", "b", "a2", "c", null, "a", "b", "c"];
        // Warm up so all eight start within one step (each adapter's first load happens at admission).
        foreach (var a in adapters.Distinct()) await engine.CollectAsync(Generation.Chat("hi", a, maxTokens: 1));
        var before = engine.Status;
        var results = await Task.WhenAll(adapters.Select((a, i) => Task.Run(() => engine.CollectAsync(Generation.Chat($"Question {i}", a, maxTokens: 40)))));
        var after = engine.Status;
        var steps = after.Steps - before.Steps;
        Assert.Equal(steps, after.Decodes - before.Decodes); // one llama_decode per step, whatever the adapters
        Assert.Equal(5, results.Select(r => r.Started.Adapters.Key).Distinct().Count());
        // They ran together: 8 x 40 tokens in far fewer steps than one after another (about 40 when all start at once).
        Assert.True(steps < 200, $"{steps} steps for 8 sequences of 40 tokens");
    }

    [Fact]
    public async Task GroupedBatching_DecodesOncePerAdapterGroup()
    {
        using var engine = InferenceEngine.Start(fixture.Options() with { AdapterBatching = AdapterBatching.Grouped });
        await Task.WhenAll(new[] { "a", "b", null }.Select(a => Task.Run(() => engine.CollectAsync(Generation.Chat("Question", a, maxTokens: 100)))));
        var status = engine.Status;
        Assert.True(status.Decodes >= status.Steps + 25, $"{status.Decodes} decodes in {status.Steps} steps: groups were not decoded apart");
    }
}
