using Serve.Engine.Adapters;
using Serve.Engine.Scheduling;

namespace Serve.Engine.Tests;

/// <summary>
/// The scheduler's policy on a fake decoder: no model, no thread, no clock. Each test drives it step by step
/// (plan, decode, commit) and counts steps and KV operations.
/// </summary>
public sealed class SchedulerPolicyTests
{
    private static readonly AdapterConfiguration AdapterA = new([new AdapterConfigurationEntry("a", "v1", 1f)]);

    /// <summary>Records KV operations; reports a full KV cache while FullFor is above zero.</summary>
    private sealed class FakeDecoder : IBatchDecoder
    {
        public List<string> Log { get; } = [];
        public int FullFor { get; set; }
        public int Decodes { get; private set; }

        public DecodeOutcome Decode(StepPlan plan)
        {
            Decodes++;
            if (FullFor > 0)
            {
                FullFor--;
                return DecodeOutcome.KvFull;
            }
            return DecodeOutcome.Ok;
        }

        public void Remove(int sequenceId, int p0 = -1, int p1 = -1) => Log.Add($"rm {sequenceId} {p0} {p1}");
        public void Copy(int source, int target, int p0, int p1) => Log.Add($"cp {source}->{target} {p0} {p1}");
    }

    private static EngineOptions Options(int maxSequences = 4, int prefillChunk = 4, bool prefixCache = true, bool kvUnified = false) => new()
    {
        KvUnified = kvUnified,
        ModelPath = "unused.gguf",
        MaxSequences = maxSequences,
        BatchSize = 512,
        PrefillChunk = prefillChunk,
        PrefixCache = prefixCache,
        PrefixCacheSlots = 2,
    };

    private static (SchedulerPolicy Policy, FakeDecoder Decoder) Start(EngineOptions options)
    {
        var decoder = new FakeDecoder();
        var slots = options.MaxSequences + (options.PrefixCache ? options.PrefixCacheSlots : 0);
        return (new SchedulerPolicy(options, slots, decoder), decoder);
    }

    private static Sequence Request(long id, int[] prompt, string? adapter = null, string? client = null) =>
        new(id, new GenerationRequest { Prompt = "unused", ClientId = client, Adapters = adapter is null ? [] : [new AdapterWeight(adapter)] },
            prompt, maxTokens: 8, sampler: null!, vocab: null!);

    /// <summary>Leases the base model, or adapter "a"; adapter "cold" is still loading (null).</summary>
    private static AdapterLease? Acquire(Sequence s) => s.Request.Adapters.Count == 0
        ? new AdapterLease(null, AdapterConfiguration.None, [], [])
        : s.Request.Adapters[0].Name == "cold" ? null : new AdapterLease(null, AdapterA, [], []);

    /// <summary>One step as the loop runs it, with token 7 "sampled" for every output.</summary>
    private static StepPlan Step(SchedulerPolicy policy, FakeDecoder decoder, int budget = 512)
    {
        var plan = policy.Plan(budget);
        if (plan.IsEmpty) return plan;
        while (decoder.Decode(plan) == DecodeOutcome.KvFull)
            Assert.True(policy.EvictIdle(), "the KV cache is full and nothing is idle");
        policy.Commit(plan);
        foreach (var (s, _) in plan.Outputs) s.NextToken = 7;
        return plan;
    }

    private static int[] Tokens(int from, int count) => [.. Enumerable.Range(from, count)];

    [Fact]
    public void Admit_InArrivalOrder_UpToMaxSequences()
    {
        var (policy, _) = Start(Options(maxSequences: 2));
        var requests = Enumerable.Range(1, 3).Select(i => Request(i, Tokens(i * 100, 5))).ToList();
        policy.Waiting.AddRange(requests);

        var (started, refused) = policy.Admit(Acquire);

        Assert.Equal([1L, 2L], started.Select(s => s.Id));
        Assert.Empty(refused);
        Assert.Equal([requests[2]], policy.Waiting);
        Assert.Equal(2, policy.Slots.Count(x => x.Owner is not null));
        Assert.Empty(policy.Admit(Acquire).Started);
    }

    [Fact]
    public void Admit_RequestWaitingForItsAdapter_DoesNotBlockOthers()
    {
        var (policy, _) = Start(Options());
        var cold = Request(1, Tokens(0, 5), adapter: "cold");
        var warm = Request(2, Tokens(0, 5), adapter: "a");
        var plain = Request(3, Tokens(0, 5));
        policy.Waiting.AddRange([cold, warm, plain]);

        var (started, _) = policy.Admit(Acquire);

        Assert.Equal([warm, plain], started);
        Assert.Equal([cold], policy.Waiting);
    }

    [Fact]
    public void Admit_AnAdapterThatFails_RefusesThatRequestAlone()
    {
        var (policy, _) = Start(Options());
        var bad = Request(1, Tokens(0, 5), adapter: "gone");
        var good = Request(2, Tokens(0, 5));
        policy.Waiting.AddRange([bad, good]);

        var (started, refused) = policy.Admit(s => s.Id == 1 ? throw new AdapterNotFoundException("gone") : Acquire(s));

        Assert.Equal([good], started);
        Assert.Equal(bad, Assert.Single(refused).Sequence);
        Assert.Empty(policy.Waiting);
    }

    [Fact]
    public void Plan_DecodeTokensFirst_ThenPromptChunksWithinPrefillChunkAndBudget()
    {
        var (policy, decoder) = Start(Options(prefillChunk: 4));
        var first = Request(1, Tokens(0, 3));
        policy.Waiting.Add(first);
        policy.Admit(Acquire);
        Step(policy, decoder); // first's 3-token prompt in one chunk: it now decodes
        var second = Request(2, Tokens(100, 10));
        var third = Request(3, Tokens(200, 10));
        policy.Waiting.AddRange([second, third]);
        policy.Admit(Acquire);

        var plan = Step(policy, decoder, budget: 7);

        Assert.Equal([first], plan.Decoding);
        Assert.Equal([(second, 4), (third, 2)], plan.Chunks);
        Assert.Equal(7, plan.Tokens);
        Assert.Equal([(first, 0)], plan.Outputs); // no prompt is complete yet
        // second's remaining 6 tokens take two more steps at PrefillChunk 4; its last chunk is then sampled.
        var steps = 1;
        while (second.IsPrefilling) { Step(policy, decoder); steps++; }
        Assert.Equal(3, steps);
        Assert.Equal(10, second.Slot!.Tokens.Count);
    }

    [Fact]
    public void Plan_PrefillTokensWhileDecoding_CapsPromptTokensOnlyInStepsThatDecode()
    {
        var (policy, decoder) = Start(Options(prefillChunk: 64) with { PrefillTokensWhileDecoding = 5 });
        // Nothing decodes yet: the first prompt goes in whole (up to PrefillChunk), the cap does not apply.
        var first = Request(1, Tokens(0, 20));
        policy.Waiting.Add(first);
        policy.Admit(Acquire);
        var alone = Step(policy, decoder);
        Assert.Equal([(first, 20)], alone.Chunks);

        // first now decodes: two new prompts share 5 prompt tokens a step, in arrival order, next to its decode token.
        var second = Request(2, Tokens(100, 7));
        var third = Request(3, Tokens(200, 4));
        policy.Waiting.AddRange([second, third]);
        policy.Admit(Acquire);
        var plan = Step(policy, decoder);
        Assert.Equal([first], plan.Decoding);
        Assert.Equal([(second, 5)], plan.Chunks);
        Assert.Equal(6, plan.Tokens);
        plan = Step(policy, decoder);
        Assert.Equal([first], plan.Decoding);
        Assert.Equal([(second, 2), (third, 3)], plan.Chunks);
        Assert.Contains((second, 2), plan.Outputs); // second's prompt is complete: its last row is sampled
        plan = Step(policy, decoder);
        Assert.Equal([first, second], plan.Decoding);
        Assert.Equal([(third, 1)], plan.Chunks);
        Assert.False(third.IsPrefilling);
    }

    [Fact]
    public void Plan_EveryRunningSequence_OneDecodeTokenEach_NeverMoreThanMaxSequences()
    {
        var (policy, decoder) = Start(Options(maxSequences: 3));
        policy.Waiting.AddRange(Enumerable.Range(1, 5).Select(i => Request(i, Tokens(i * 100, 2))));
        policy.Admit(Acquire);
        Step(policy, decoder);

        var plan = Step(policy, decoder);

        Assert.Equal(3, plan.Decoding.Count);
        Assert.Empty(plan.Chunks);
        Assert.Equal(3, plan.Tokens);
        Assert.Equal(2, policy.Waiting.Count);
    }

    [Fact]
    public void Admit_PrefixCache_ReusesTheIdleSlotWithTheLongestSharedPrefix_OfTheSameAdapters()
    {
        // Unified KV: an idle slot is reused in place.
        var (policy, decoder) = Start(Options(prefillChunk: 64, kvUnified: true));
        var shortShare = Request(1, [1, 2, 3, 50, 51, 52]);
        var longShare = Request(2, [1, 2, 3, 4, 5, 60]);
        var otherAdapter = Request(3, [1, 2, 3, 4, 5, 6, 7], adapter: "a");
        policy.Waiting.AddRange([shortShare, longShare, otherAdapter]);
        policy.Admit(Acquire);
        Step(policy, decoder);
        foreach (var s in policy.Running.ToList()) policy.Release(s, keepKv: true);
        var reused = longShare.Slot!;
        decoder.Log.Clear();

        var next = Request(4, [1, 2, 3, 4, 5, 6, 7, 8]);
        policy.Waiting.Add(next);
        policy.Admit(Acquire);

        Assert.Same(reused, next.Slot);
        Assert.Equal(5, next.CachedPromptTokens);
        Assert.Equal(5, next.PromptCursor);
        Assert.Equal([$"rm {reused.SequenceId} 5 -1"], decoder.Log);
        Assert.Equal(8 - 5, Step(policy, decoder).Chunks.Single().Count);
    }

    [Fact]
    public void Admit_PrefixOfARunningSequence_IsCopiedToAFreshSlot()
    {
        var (policy, decoder) = Start(Options(prefillChunk: 64));
        var running = Request(1, Tokens(0, 10));
        policy.Waiting.Add(running);
        policy.Admit(Acquire);
        Step(policy, decoder);
        decoder.Log.Clear();

        var sharing = Request(2, [.. Tokens(0, 6), 99]);
        policy.Waiting.Add(sharing);
        policy.Admit(Acquire);

        Assert.NotSame(running.Slot, sharing.Slot);
        Assert.Equal(6, sharing.CachedPromptTokens);
        Assert.Equal([$"cp {running.Slot!.SequenceId}->{sharing.Slot!.SequenceId} 0 6"], decoder.Log);
    }

    [Fact]
    public void SeparateStreams_PrefixCache_CopiesTheLongestSharedPrefix_IntoTheLowestFreeRunningId()
    {
        var (policy, decoder) = Start(Options(prefillChunk: 64));
        var shortShare = Request(1, [1, 2, 3, 50, 51, 52]);
        var longShare = Request(2, [1, 2, 3, 4, 5, 60]);
        var otherAdapter = Request(3, [1, 2, 3, 4, 5, 6, 7], adapter: "a");
        policy.Waiting.AddRange([shortShare, longShare, otherAdapter]);
        policy.Admit(Acquire);
        Assert.Equal([0, 1, 2], policy.Running.Select(s => s.Slot!.SequenceId));
        Step(policy, decoder);
        policy.Release(shortShare, keepKv: true); // to cache id 4; longShare then otherAdapter move down
        policy.Release(otherAdapter, keepKv: true); // to cache id 5
        Assert.Equal(0, longShare.Slot!.SequenceId);
        decoder.Log.Clear();

        var next = Request(4, [1, 2, 3, 4, 5, 6, 7, 8]);
        policy.Waiting.Add(next);
        policy.Admit(Acquire);

        Assert.Equal(1, next.Slot!.SequenceId); // the lowest free running id
        Assert.Equal(5, next.CachedPromptTokens); // from running longShare, not the other adapter's cached 7
        Assert.Equal(["cp 0->1 0 5"], decoder.Log); // id 1 was cleared when its sequence moved down
        Assert.Equal(8 - 5, Step(policy, decoder).Chunks.Single().Count);
    }

    [Fact]
    public void SeparateStreams_Release_CachesTheKv_AndKeepsRunningIdsConsecutive()
    {
        var (policy, decoder) = Start(Options(prefillChunk: 64));
        var requests = Enumerable.Range(0, 4).Select(i => Request(i, Tokens(100 * i, 4))).ToList();
        policy.Waiting.AddRange(requests);
        policy.Admit(Acquire);
        Step(policy, decoder);
        decoder.Log.Clear();

        policy.Release(requests[1], keepKv: true);

        // id 1's KV goes to the first cache id (4), then the highest running id (3) moves into 1
        Assert.Equal(["cp 1->4 -1 -1", "rm 1 -1 -1", "cp 3->1 -1 -1", "rm 3 -1 -1"], decoder.Log);
        Assert.Equal([0, 1, 2], policy.Running.Select(s => s.Slot!.SequenceId).Order());
        Assert.Equal(1, requests[3].Slot!.SequenceId);
        Assert.Equal(Tokens(300, 4), requests[3].Slot!.Tokens);
        Assert.Equal(Tokens(100, 4), policy.Slots[4].Tokens);
        var plan = Step(policy, decoder);
        Assert.Equal([0, 1, 2], plan.Decoding.Select(s => s.Slot!.SequenceId)); // in id order, one ubatch

        // The same tokens again are not cached twice.
        decoder.Log.Clear();
        var again = Request(9, Tokens(100, 4));
        policy.Waiting.Add(again);
        policy.Admit(Acquire);
        policy.Release(again, keepKv: true);
        Assert.DoesNotContain(decoder.Log, l => l.StartsWith("cp 3->5", StringComparison.Ordinal));
        Assert.Empty(policy.Slots[5].Tokens);
    }

    [Fact]
    public void Decode_KvFull_EvictsTheLeastRecentlyUsedIdleSlot_ThenNothingWhenNoneIsIdle()
    {
        // Unified KV: one cell pool, which idle slots' prefixes can fill.
        var (policy, decoder) = Start(Options(prefillChunk: 64, kvUnified: true));
        var older = Request(1, Tokens(0, 4));
        var newer = Request(2, Tokens(100, 4));
        policy.Waiting.AddRange([older, newer]);
        policy.Admit(Acquire);
        Step(policy, decoder);
        policy.Release(older, keepKv: true);
        policy.Release(newer, keepKv: true);
        var olderSlot = older.Slot!;
        var newerSlot = newer.Slot!;
        policy.Waiting.Add(Request(3, Tokens(200, 4)));
        policy.Admit(Acquire);
        decoder.Log.Clear();
        decoder.FullFor = 1;

        Step(policy, decoder);

        Assert.Equal(1 + 2, decoder.Decodes); // the first step, then a full cache and the retry after one eviction
        Assert.Equal([$"rm {olderSlot.SequenceId} -1 -1"], decoder.Log);
        Assert.Empty(olderSlot.Tokens);
        Assert.Equal(4, newerSlot.Tokens.Count); // kept: only the older idle slot was evicted
        Assert.True(policy.EvictIdle());
        Assert.False(policy.EvictIdle());
    }

    [Fact]
    public void Release_FreesTheSequence_SoTheNextWaitingStarts()
    {
        var (policy, decoder) = Start(Options(maxSequences: 1, prefixCache: false));
        var first = Request(1, Tokens(0, 4));
        var second = Request(2, Tokens(100, 4));
        policy.Waiting.AddRange([first, second]);
        policy.Admit(Acquire);
        Step(policy, decoder);
        Assert.Empty(policy.Admit(Acquire).Started);

        policy.Release(first, keepKv: false);

        Assert.Empty(first.Slot!.Tokens);
        Assert.Null(first.Slot.Owner);
        Assert.Equal([second], policy.Admit(Acquire).Started);
        Assert.Equal([second], policy.Running);
    }

    [Fact]
    public void Choices_AdmittedTogether_FollowersGetTheLeadersPromptKvOnce()
    {
        var (policy, decoder) = Start(Options(maxSequences: 4, prefillChunk: 4));
        var choices = Enumerable.Range(0, 3).Select(i => new Sequence(1, new GenerationRequest { Prompt = "unused", Choices = 3 }, Tokens(0, 6), 8, null!, null!, choice: i) { AwaitingLeader = i > 0 }).ToList();
        var group = new ChoiceGroup(choices);
        foreach (var c in choices) c.Group = group;
        policy.Waiting.Add(Request(9, Tokens(500, 2)));
        policy.Waiting.Add(choices[0]);

        Assert.Equal(2, policy.Admit(Acquire).Started.Count);
        Assert.Equal(4, policy.Running.Count);

        var first = Step(policy, decoder);
        Assert.Equal([(choices[0], 4)], first.Chunks.Where(c => c.Sequence.Id == 1));
        var second = Step(policy, decoder);
        var leaderRow = second.Outputs.Single(o => o.Sequence == choices[0]).Index;
        Assert.Equal([leaderRow, leaderRow, leaderRow], second.Outputs.Where(o => o.Sequence.Id == 1).Select(o => o.Index));
        Assert.Equal(2, decoder.Log.Count(l => l.StartsWith("cp ", StringComparison.Ordinal)));
        Assert.All(choices, c => Assert.Equal(6, c.Slot!.Tokens.Count));
        Assert.Equal(3, Step(policy, decoder).Decoding.Count(s => s.Id == 1));
    }
}
