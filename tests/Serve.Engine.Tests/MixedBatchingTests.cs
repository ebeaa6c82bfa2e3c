namespace Serve.Engine.Tests;

/// <summary>
/// Every adapter in one llama_decode (per-token LoRA from the adapter pool). Serve.Llama.Tests' AdapterPoolTests
/// check the pool against llama.cpp's own LoRA; here the engine: one decode per step, isolation, and adapters
/// loaded off the scheduler thread.
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
    public async Task MixedBatching_DecodesEveryAdapterInOneCallPerStep()
    {
        using var engine = InferenceEngine.Start(fixture.Options(fixture.AdapterDirectory("a", "b", "a2", "c")) with
        {
            MaxLoadedAdapters = 4,
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
    public async Task ColdAdapters_LoadWhileOthersDecode_TheSchedulerNeverWaitsForAFile()
    {
        // Two slots, four adapters: every new adapter evicts another and loads while a long request keeps decoding.
        // The long request has room for far more tokens than the loads take steps on any machine (300 were not enough
        // on an idle one); it is cancelled once the loads are checked.
        using var engine = InferenceEngine.Start(fixture.Options(fixture.AdapterDirectory("a", "b", "a2", "c")) with
        {
            MaxLoadedAdapters = 2, ContextPerSequence = 8192,
        });
        using var stop = new CancellationTokenSource();
        var running = engine.CollectAsync(Generation.Chat("Tell me a long story.", "a", maxTokens: 8000), stop.Token);
        await WaitUntil(() => engine.Status.GeneratedTokens >= 3);
        foreach (var name in new[] { "b", "a2", "c", "b" })
        {
            var before = engine.Status;
            var r = await engine.CollectAsync(Generation.Chat("hi", name, maxTokens: 3));
            Assert.Equal(name, r.Started.Adapters.Entries.Single().Name);
            var after = engine.Status;
            // Counted in steps: the running request generated a token in (nearly) every step while name loaded.
            Assert.True(after.GeneratedTokens - before.GeneratedTokens - 3 >= after.Steps - before.Steps - 3,
                $"{name}: {after.GeneratedTokens - before.GeneratedTokens - 3} tokens of a in {after.Steps - before.Steps} steps");
        }
        Assert.False(running.IsCompleted, "the long request ended before the loads could be checked against it");
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        Assert.Equal(2, engine.Status.LoadedAdapters);
    }

    [Fact]
    public async Task ColdAdapters_WhoseWeightsHaveRoomInThePool_GoStraightIntoTheirSlot_WithoutAskingTheScheduler()
    {
        // Only an adapter that changes a weight no adapter changed before needs the scheduler (the pool's room for
        // that weight is made between two decodes); the others are copied into their slot by the loader alone.
        var directory = fixture.AdapterDirectory("a", "b", "a2", "c", "d");
        using var engine = InferenceEngine.Start(fixture.Options(directory) with { MaxLoadedAdapters = 2 });
        var slots = engine.Adapters.Slots;
        var expected = new (string Name, int Preparations)[]
        {
            ("c", 1),  // attn_q, attn_v, ffn_down: all new
            ("a", 2),  // every attention and ffn weight: some new
            ("b", 2),  // the same weights as a (evicts c)
            ("a2", 2), // again (evicts a)
            ("c", 2),  // a subset (evicts b)
            ("d", 3),  // output.weight is new
        };
        var answers = new Dictionary<string, string>();
        foreach (var (name, preparations) in expected)
        {
            await engine.Adapters.LoadAsync(name);
            Assert.Equal(preparations, slots.TargetPreparations);
            answers[name] = (await engine.CollectAsync(Generation.Chat("Where is the market?", name, maxTokens: 8))).Text;
        }
        Assert.Equal(3, slots.TargetPreparations); // generating loaded nothing more
        // Each answers as it does in an engine where it was the first adapter (its weights' room made for it).
        foreach (var name in new[] { "b", "a2", "c" })
        {
            using var fresh = InferenceEngine.Start(fixture.Options(fixture.AdapterDirectory(name)) with { MaxLoadedAdapters = 2 });
            Assert.Equal(answers[name], (await fresh.CollectAsync(Generation.Chat("Where is the market?", name, maxTokens: 8))).Text);
            Assert.Equal(1, fresh.Adapters.Slots.TargetPreparations);
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 2000 && !condition(); i++) await Task.Delay(10);
        Assert.True(condition());
    }
}
