using System.Runtime.InteropServices;
using Serve.Engine.Adapters;

namespace Serve.Engine.Scheduling;

/// <summary>
/// The scheduler's decisions, apart from the thread and llama.cpp (as vLLM keeps its scheduler apart from its model
/// runner): which waiting requests start (fairness, MaxSequences, adapter leases), which KV slot each gets (prefix
/// reuse), what each step's batch holds, how a decoded batch advances the sequences, and which idle KV is evicted.
/// No clock, no threads: tests drive it step by step with a fake <see cref="IBatchDecoder"/>.
/// </summary>
internal sealed class SchedulerPolicy
{
    private readonly EngineOptions _options;
    private readonly IBatchDecoder _kv;
    private long _clock;

    public SchedulerPolicy(EngineOptions options, int slotCount, IBatchDecoder kv)
    {
        _options = options;
        _kv = kv;
        Slots = [.. Enumerable.Range(0, slotCount).Select(i => new KvSlot(i))];
        Fair = new FairRequestQueue(options.MaxSequences, options.MaxQueuedRequests, options.ClientRunningShare, options.ClientQueueShare);
    }

    public List<Sequence> Waiting { get; } = [];
    public List<Sequence> Running { get; } = [];
    public KvSlot[] Slots { get; }
    public FairRequestQueue Fair { get; }

    /// <summary>
    /// Starts waiting requests while sequences are free, offered client by client (FairRequestQueue.Order). acquire
    /// gives a request's adapter lease, null while its adapters load (it waits, others go past), or throws an
    /// EngineException, which refuses that request alone (returned in Refused, already out of the queue).
    /// </summary>
    public (List<Sequence> Started, List<(Sequence Sequence, Exception Error)> Refused) Admit(Func<Sequence, AdapterLease?> acquire)
    {
        var started = new List<Sequence>();
        var refused = new List<(Sequence, Exception)>();
        // fairness hook: offered client by client (FairRequestQueue.Order), each client within its running share.
        foreach (var s in Waiting.Count == 0 || Running.Count >= _options.MaxSequences ? [] : Fair.Order(Waiting, w => w.Request.ClientId))
        {
            if (Running.Count >= _options.MaxSequences) break;
            if (Running.Count + ChoiceCount(s) > _options.MaxSequences) continue; // n choices start together, a slot each
            if (!Fair.CanStart(s.Request.ClientId)) continue;
            AdapterLease? lease;
            try
            {
                lease = acquire(s);
            }
            catch (Exception e) when (e is EngineException or ObjectDisposedException)
            {
                Waiting.Remove(s);
                Fair.LeftQueue(s.Request.ClientId); // fairness hook
                refused.Add((s, e));
                continue;
            }
            if (lease is null) continue; // its adapters cannot be loaded until others are released
            if (!TryLeaseFollowers(s, lease, acquire)) continue;
            Waiting.Remove(s);
            Fair.LeftQueue(s.Request.ClientId); // fairness hook
            Fair.Started(s.Request.ClientId); // fairness hook
            s.Lease = lease;
            AssignSlot(s);
            Running.Add(s);
            foreach (var f in s.Group?.Followers ?? [])
            {
                Fair.Started(s.Request.ClientId); // fairness hook: each choice holds a running sequence
                AssignFollowerSlot(f);
                Running.Add(f);
            }
            started.Add(s);
        }
        return (started, refused);
    }

    private static int ChoiceCount(Sequence s) => s.Group?.Members.Count ?? 1;

    /// <summary>A lease per follower choice (the leader's adapters are resident, so these succeed unless they fail); all or none.</summary>
    private static bool TryLeaseFollowers(Sequence s, AdapterLease leaderLease, Func<Sequence, AdapterLease?> acquire)
    {
        if (s.Group is null) return true;
        var taken = new List<AdapterLease>();
        foreach (var f in s.Group.Followers)
        {
            AdapterLease? lease = null;
            try
            {
                lease = acquire(f);
            }
            catch (Exception e) when (e is EngineException or ObjectDisposedException)
            {
            }
            if (lease is null)
            {
                foreach (var l in taken) l.Release();
                leaderLease.Release();
                return false;
            }
            taken.Add(lease);
            f.Lease = lease;
        }
        return true;
    }

    /// <summary>
    /// Gives the sequence a slot. With the prefix cache, the slot (idle or running) of the same adapter
    /// configuration sharing the longest prompt prefix is the source: an idle source is reused in place, a running
    /// one shares its cells with a fresh slot (llama.cpp's unified KV copies by reference).
    /// </summary>
    private void AssignSlot(Sequence s)
    {
        if (SeparateStreams)
        {
            AssignStreamSlot(s);
            return;
        }
        var (source, reuse) = LongestPrefix(s, preferIdle: true);
        KvSlot target;
        if (source is { Owner: null } && reuse > 0)
        {
            target = source;
            _kv.Remove(target.SequenceId, reuse, -1);
            target.Tokens.RemoveRange(reuse, target.Tokens.Count - reuse);
        }
        else
        {
            target = LeastValuableFreeSlot();
            Clear(target);
            reuse = CopyPrefix(source, target, reuse);
        }
        Occupy(target, s, reuse);
    }

    /// <summary>
    /// With the prefix cache, the slot (idle or running) of the sequence's adapter configuration that shares the
    /// longest prompt prefix, and how many tokens of it to reuse (never the last prompt token, which must be decoded
    /// for its logits); preferIdle takes an idle slot over a running one on a tie.
    /// </summary>
    private (KvSlot? Source, int Reuse) LongestPrefix(Sequence s, bool preferIdle)
    {
        if (!_options.PrefixCache) return (null, 0);
        var configuration = s.Lease!.Configuration;
        KvSlot? source = null;
        var reuse = 0;
        foreach (var slot in Slots)
        {
            if (slot.Tokens.Count == 0 || !configuration.Equals(slot.Configuration)) continue;
            var n = slot.CommonPrefix(s.Prompt);
            if (n > reuse || (preferIdle && n == reuse && n > 0 && source!.Owner is not null && slot.Owner is null)) { reuse = n; source = slot; }
        }
        return (source, Math.Min(reuse, s.Prompt.Length - 1));
    }

    /// <summary>Copies source's first reuse positions to the (cleared) target; returns the positions reused (0 without a source).</summary>
    private int CopyPrefix(KvSlot? source, KvSlot target, int reuse)
    {
        if (source is null || reuse <= 0) return 0;
        _kv.Copy(source.SequenceId, target.SequenceId, 0, reuse);
        target.Tokens.AddRange(source.Tokens.Take(reuse));
        return reuse;
    }

    /// <summary>The sequence owns target, whose first reuse positions hold its prompt's prefix.</summary>
    private void Occupy(KvSlot target, Sequence s, int reuse)
    {
        target.Owner = s;
        target.Configuration = s.Lease!.Configuration;
        target.LastUsed = ++_clock;
        s.Slot = target;
        s.PromptCursor = reuse;
        s.CachedPromptTokens = reuse;
    }

    // Least valuable free slot: empty first, then least recently used.
    private KvSlot LeastValuableFreeSlot() => Slots.Where(x => x.Owner is null).OrderBy(x => x.Tokens.Count > 0).ThenBy(x => x.LastUsed).First();

    /// <summary>
    /// Separate KV streams (KvUnified off): llama.cpp batches sequences together only while their ids run
    /// consecutively (a gap splits the batch, and each part reads every weight again), so running sequences keep
    /// ids 0..Running-1 and the prefix cache lives in ids MaxSequences and up. Moving KV between streams is a
    /// whole-stream copy that llama.cpp makes at the next decode, in the order asked.
    /// </summary>
    private bool SeparateStreams => !_options.KvUnified;

    /// <summary>The lowest free id among the running ones (there is one: admission keeps Running below MaxSequences).</summary>
    private KvSlot FreeRunningSlot() => Slots.Take(_options.MaxSequences).First(x => x.Owner is null);

    /// <summary>
    /// Separate streams: the sequence takes the lowest free running id; a prefix of the same configuration (from a
    /// cached slot or a running one) is copied there and trimmed, and the source keeps it.
    /// </summary>
    private void AssignStreamSlot(Sequence s)
    {
        var (source, reuse) = LongestPrefix(s, preferIdle: false);
        var target = FreeRunningSlot();
        Clear(target);
        reuse = CopyPrefix(source, target, reuse);
        if (reuse > 0) source!.LastUsed = ++_clock;
        Occupy(target, s, reuse);
    }

    /// <summary>
    /// Separate streams, a running slot just freed: its KV goes to a cache slot (unless one already holds all of it),
    /// the slot is cleared, and the running sequence with the highest id moves into it, so ids stay consecutive.
    /// </summary>
    private void ReleaseStreamSlot(KvSlot slot, bool keepKv)
    {
        if (keepKv && _options.PrefixCache && slot.Tokens.Count > 0 && !CachedAlready(slot))
        {
            var cache = Slots.Skip(_options.MaxSequences).OrderBy(x => x.Tokens.Count > 0).ThenBy(x => x.LastUsed).FirstOrDefault();
            if (cache is not null)
            {
                Clear(cache);
                _kv.Copy(slot.SequenceId, cache.SequenceId, -1, -1);
                cache.Tokens.AddRange(slot.Tokens);
                cache.Configuration = slot.Configuration;
                cache.LastUsed = ++_clock;
            }
        }
        Clear(slot);
        var last = Slots.Take(_options.MaxSequences).LastOrDefault(x => x.Owner is not null);
        if (last is null || last.SequenceId < slot.SequenceId) return;
        if (last.Tokens.Count > 0) _kv.Copy(last.SequenceId, slot.SequenceId, -1, -1);
        slot.Tokens.AddRange(last.Tokens);
        slot.Configuration = last.Configuration;
        slot.Owner = last.Owner;
        slot.LastUsed = last.LastUsed;
        slot.Owner!.Slot = slot;
        last.Owner = null;
        Clear(last);
    }

    private bool CachedAlready(KvSlot slot) =>
        Slots.Skip(_options.MaxSequences).Any(x => slot.Configuration!.Equals(x.Configuration) && x.CommonPrefix(CollectionsMarshal.AsSpan(slot.Tokens)) == slot.Tokens.Count);

    /// <summary>A fresh slot for a follower choice; it gets the prompt's KV from the leader's slot once that is prefilled.</summary>
    private void AssignFollowerSlot(Sequence f)
    {
        var target = SeparateStreams ? FreeRunningSlot() : LeastValuableFreeSlot();
        Clear(target);
        target.Owner = f;
        target.Configuration = f.Lease!.Configuration;
        target.LastUsed = ++_clock;
        f.Slot = target;
    }

    /// <summary>
    /// The step's batch: every running sequence whatever its adapters, a decode token each first, then prompt chunks
    /// (at most PrefillChunk per sequence) while the budget lasts (BatchSize >= MaxSequences is validated, so every
    /// decode token fits), at most PrefillTokensWhileDecoding prompt tokens in all when the step decodes. Followers
    /// waiting for their leader's prompt are left out. Decode tokens go in sequence-id order: with separate KV streams
    /// (KvUnified off) llama.cpp puts consecutive ids into one ubatch and splits the batch wherever the next id is not
    /// one more than the last.
    /// </summary>
    public StepPlan Plan(int budget)
    {
        var plan = new StepPlan();
        foreach (var s in Running.OrderBy(x => x.Slot!.SequenceId))
        {
            if (s.AwaitingLeader || s.IsPrefilling) continue;
            plan.Outputs.Add((s, plan.Tokens++));
            plan.Decoding.Add(s);
            plan.Members.Add(s);
            budget--;
        }
        if (plan.Decoding.Count > 0 && _options.PrefillTokensWhileDecoding is { } cap) budget = Math.Min(budget, cap);
        foreach (var s in Running)
        {
            if (s.AwaitingLeader || !s.IsPrefilling) continue;
            if (budget <= 0) break;
            var n = Math.Min(Math.Min(_options.PrefillChunk, s.Prompt.Length - s.PromptCursor), budget);
            plan.Tokens += n;
            if (s.PromptCursor + n == s.Prompt.Length) plan.Outputs.Add((s, plan.Tokens - 1));
            plan.Chunks.Add((s, n));
            plan.Members.Add(s);
            budget -= n;
        }
        return plan;
    }

    /// <summary>
    /// Folds a decoded plan in: decode tokens and prompt chunks join their slots' KV; a leader whose prompt is now
    /// complete shares it with its waiting followers, which sample from the same row. Returns the prompt tokens decoded.
    /// </summary>
    public int Commit(StepPlan plan)
    {
        var prefilled = 0;
        foreach (var s in plan.Decoding) s.Slot!.Tokens.Add(s.NextToken);
        foreach (var (s, n) in plan.Chunks)
        {
            s.Slot!.Tokens.AddRange(s.Prompt.AsSpan(s.PromptCursor, n));
            s.PromptCursor += n;
            prefilled += n;
        }
        foreach (var (s, index) in plan.Outputs.ToList())
            if (s.Group is not null && s.Choice == 0 && !s.IsPrefilling) StartFollowers(s, index, plan.Outputs);
        return prefilled;
    }

    /// <summary>The leader's prompt is in its slot: copy that KV to each waiting follower, which then samples from the same logits.</summary>
    private void StartFollowers(Sequence leader, int index, List<(Sequence Sequence, int Index)> outputs)
    {
        foreach (var f in leader.Group!.Followers)
        {
            if (!f.AwaitingLeader || f.Finished) continue;
            _kv.Copy(leader.Slot!.SequenceId, f.Slot!.SequenceId, 0, leader.Prompt.Length);
            f.Slot.Tokens.AddRange(leader.Prompt);
            f.PromptCursor = leader.Prompt.Length;
            f.AwaitingLeader = false;
            outputs.Add((f, index));
        }
    }

    /// <summary>Frees the least recently used idle slot's KV (the KV cache is full); false when none is idle.</summary>
    public bool EvictIdle()
    {
        var idle = Slots.Where(x => x.Owner is null && x.Tokens.Count > 0).MinBy(x => x.LastUsed);
        if (idle is null) return false;
        Clear(idle);
        return true;
    }

    /// <summary>Ends a sequence's hold on its sequence, lease and slot; keepKv leaves the slot's KV for prefix reuse.</summary>
    public void Release(Sequence s, bool keepKv)
    {
        if (s.Finished) return;
        s.Finished = true;
        if (Running.Remove(s)) Fair.Finished(s.Request.ClientId); // fairness hook
        s.Lease?.Release();
        s.Sampler?.Dispose();
        if (s.Slot is { } slot)
        {
            slot.Owner = null;
            slot.LastUsed = ++_clock;
            if (SeparateStreams) ReleaseStreamSlot(slot, keepKv);
            else if (!keepKv) Clear(slot);
        }
    }

    public void Clear(KvSlot slot)
    {
        if (slot.Tokens.Count > 0) _kv.Remove(slot.SequenceId);
        slot.Tokens.Clear();
        slot.Configuration = null;
    }
}
