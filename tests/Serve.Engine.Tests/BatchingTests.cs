using System.Diagnostics;

namespace Serve.Engine.Tests;

[Collection(EngineCollection.Name)]
public sealed class BatchingTests(EngineFixture fixture)
{
    private static readonly string[] Prompts =
    [
        "Where is the market?", "How do seasons change?", "Tell me a short story.", "What is an error message?",
        "Count to five.", "Describe the river.", "Why do we learn?", "Write a letter to a friend.",
    ];

    [Fact]
    public async Task Concurrent_MixedAdapters_MatchEachRequestAlone()
    {
        using var engine = InferenceEngine.Start(fixture.Options() with { PrefixCache = false });
        string?[] adapters = ["a", null, "b", "a", null, "b", "a", "b"];
        var requests = Prompts.Select((p, i) => Generation.Chat(p, adapters[i], maxTokens: 12)).ToArray();

        var alone = new List<string>();
        foreach (var r in requests) alone.Add((await engine.CollectAsync(r)).Text);
        var together = await Task.WhenAll(requests.Select(r => engine.CollectAsync(r)));

        Assert.Equal(alone, together.Select(t => t.Text));
        // The adapters really change the output, so equality above means each request ran with its own adapter.
        var prompt = Prompts[0];
        var outputs = new List<string>();
        foreach (var adapter in new[] { null, "a", "b" }) outputs.Add((await engine.CollectAsync(Generation.Chat(prompt, adapter, maxTokens: 12))).Text);
        Assert.Equal(3, outputs.Distinct().Count());
        Assert.True(engine.Status.Steps < alone.Count * 13 + 60, $"{engine.Status.Steps} steps: requests were not batched");
    }

    [Theory]
    [InlineData(512)]
    [InlineData(5)] // micro-batches smaller than the batch: llama.cpp splits it, each token keeps its adapters
    public async Task ThirtyTwoConcurrent_OverFourAdaptersAndTheBase_MatchEachRequestAlone(int microBatch)
    {
        using var engine = InferenceEngine.Start(fixture.Options(fixture.AdapterDirectory("a", "b", "a2", "c")) with
        {
            MaxLoadedAdapters = 4, UBatchSize = microBatch,
        });
        string?[] adapters = [null, "a", "b", "a2", "c"];
        var requests = Enumerable.Range(0, 32)
            .Select(i => Generation.Chat($"{Prompts[i % Prompts.Length]} ({i})", adapters[i % adapters.Length], maxTokens: 10))
            .ToArray();

        var alone = new List<string>();
        foreach (var r in requests) alone.Add((await engine.CollectAsync(r)).Text);
        var together = await Task.WhenAll(requests.Select(r => Task.Run(() => engine.CollectAsync(r))));

        for (var i = 0; i < requests.Length; i++) Assert.True(alone[i] == together[i].Text, $"request {i} ({adapters[i % 5] ?? "base"}) differs");
        Assert.Equal(5, together.Select(t => t.Started.Adapters.Key).Distinct().Count());
    }

    [Fact]
    public async Task TwoHundredAbortedStreams_LeaveNoSequenceOrKvInUse()
    {
        // Without the prefix cache, so KvTokens counts only what sequences hold: on a loaded machine a stream can
        // reach its 200 tokens before its reader gets to cancel it, and a finished sequence's KV would otherwise stay
        // in a prefix-cache slot (idle, reusable, but counted in KvTokens).
        using var engine = InferenceEngine.Start(fixture.Options() with { PrefixCache = false });
        string?[] adapters = [null, "a", "b"];
        var aborted = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, 200), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            using var cts = new CancellationTokenSource();
            var stopAfter = 1 + i % 4;
            try
            {
                await foreach (var u in engine.GenerateAsync(Generation.Chat($"Keep talking {i}", adapters[i % 3], maxTokens: 200), cts.Token))
                {
                    if (u is GenerationDelta && --stopAfter == 0) cts.Cancel();
                }
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref aborted);
            }
        });
        Assert.Equal(200, aborted);
        await WaitUntil(() => engine.Status is { Running: 0, Waiting: 0, KvTokens: 0 });
        Assert.All(engine.Adapters.List(), a => Assert.Equal(0, a.ActiveSequences));
    }

    [Fact]
    public async Task AdapterGroups_AreServedEveryStep_NoAdapterWaitsForAnother()
    {
        // a has room for 4,000 tokens, so a loaded machine that wakes this thread late (a 400-token a once ended
        // before this thread saw b's result) cannot let it finish first; it is cancelled once b is done.
        using var engine = InferenceEngine.Start(fixture.Options() with { ContextPerSequence = 4096 });
        using var stopA = new CancellationTokenSource();
        var longA = engine.CollectAsync(Generation.Chat("Tell me a long story.", "a", maxTokens: 4000), stopA.Token);
        await WaitUntil(() => engine.Status.GeneratedTokens >= 5);
        var before = engine.Status;
        var b = await engine.CollectAsync(Generation.Chat("hi", "b", maxTokens: 5));
        var after = engine.Status;
        Assert.False(longA.IsCompleted, "adapter b waited for adapter a's request to finish");
        stopA.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => longA);
        // b's prefill and its five tokens took a step each, and a generated in every step: neither waited for the
        // other. Counted in steps, not time; the bound is loose because the snapshots are taken by this thread,
        // which a loaded machine wakes late (87 steps seen once), but waiting for a would have taken its ~3,990
        // remaining steps.
        var steps = after.Steps - before.Steps;
        Assert.True(steps <= 150, $"b's 5 tokens took {steps} steps");
        Assert.True(after.GeneratedTokens - before.GeneratedTokens - 5 >= steps - 3, $"a generated {after.GeneratedTokens - before.GeneratedTokens - 5} tokens in b's {steps} steps");
    }

    [Fact]
    public async Task LongPrompt_IsChunked_AndDoesNotStallRunningSequences()
    {
        using var engine = InferenceEngine.Start(fixture.Options() with { PrefillChunk = 16, PrefixCache = false });
        var running = engine.CollectAsync(Generation.Chat("Count slowly.", maxTokens: 120));
        await WaitUntil(() => engine.Status.GeneratedTokens >= 3);
        var longPrompt = string.Join(' ', Enumerable.Range(0, 150).Select(i => "word" + (i % 10)));
        var late = await engine.CollectAsync(Generation.Chat(longPrompt, maxTokens: 2));
        Assert.True(late.Completed.PromptTokens > 160, $"{late.Completed.PromptTokens} prompt tokens");
        var first = await running;
        // The long prompt took at least ten 16-token chunks; the running sequence got a token with each of them.
        var duringPrefill = first.TokenTimes.Count(t => t < late.TokenTimes[0]) - 3;
        Assert.True(duringPrefill >= 8, $"only {duringPrefill} tokens of the running request during the prefill");
    }

    [Fact]
    public async Task Cancel_FreesTheSequenceAndItsKv()
    {
        using var engine = InferenceEngine.Start(fixture.Options() with { PrefixCache = false });
        using var cts = new CancellationTokenSource();
        var count = 0;
        var task = Task.Run(async () =>
        {
            await foreach (var u in engine.GenerateAsync(Generation.Chat("Go on forever.", maxTokens: 400), cts.Token))
            {
                if (u is GenerationDelta && ++count == 5) cts.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        await WaitUntil(() => engine.Status.Running == 0 && engine.Status.KvTokens == 0);
        var after = await engine.CollectAsync(Generation.Chat("hi", maxTokens: 3));
        Assert.Equal(3, after.Completed.CompletionTokens);
    }

    [Fact]
    public async Task FullQueue_RefusesWithOverloaded()
    {
        using var engine = InferenceEngine.Start(fixture.Options() with { MaxSequences = 1, MaxQueuedRequests = 1 });
        using var cts = new CancellationTokenSource();
        var busy = engine.CollectAsync(Generation.Chat("Keep going.", maxTokens: 450), cts.Token);
        await WaitUntil(() => engine.Status.Running == 1);
        var queued = engine.CollectAsync(Generation.Chat("next", maxTokens: 2), cts.Token);
        await WaitUntil(() => engine.Status.Waiting == 1);
        await Assert.ThrowsAsync<EngineOverloadedException>(() => engine.CollectAsync(Generation.Chat("third", maxTokens: 2)));
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => busy);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
    }

    internal static async Task WaitUntil(Func<bool> condition, int timeoutMs = 20000)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.ElapsedMilliseconds > timeoutMs) throw new TimeoutException("condition not reached");
            await Task.Delay(5);
        }
    }
}
