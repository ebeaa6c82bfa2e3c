using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Serve.Llama.Graph;
using Serve.Llama.Native;
using Serve.Models;

namespace Serve.Llama.Tests;

/// <summary>
/// The adapter pool (per-token LoRA from native/patches) against llama.cpp's own LoRA (adapters set on the context):
/// every sequence of one batch runs with its own adapters and gets the tokens and log-probabilities it gets alone
/// with llama.cpp's LoRA. In the model collection: the log capture is process-wide.
/// </summary>
[Collection(LlamaModelCollection.Name)]
public sealed class AdapterPoolTests(LlamaModelFixture fixture) : IDisposable
{
    private const int Steps = 10;
    private readonly string _dir = Directory.CreateTempSubdirectory("serve-pool-tests-").FullName;

    private string Adapter(string name, LoraSpec spec)
    {
        var path = Path.Combine(_dir, name + ".gguf");
        if (!File.Exists(path)) LoraMaker.Write(path, fixture.ModelPath, spec);
        return path;
    }

    private LlamaContext Context(int seqMax, int threads = 2, ILlamaGraphObserver? observer = null) => LlamaContext.Create(fixture.Model, new LlamaContextOptions
    {
        ContextSize = 256 * seqMax, SeqMax = seqMax, BatchSize = 256, UBatchSize = 256, Threads = threads, KvUnified = true,
        TypeK = GgmlType.F32, TypeV = GgmlType.F32, GraphObserver = observer,
    });

    /// <summary>The operations that read the pool's stacked factors (tensors named *.pool_a, *.pool_bt and views of
    /// them), as the graph is computed: which form the pool took. Wants no results, so it splits nothing.</summary>
    private sealed class PoolOps : ILlamaGraphObserver
    {
        public HashSet<string> Seen { get; } = [];

        public bool WantsResult(GgmlTensor node)
        {
            for (var i = 0; i < GgmlTensorNative.MaxSources; i++)
            {
                var source = node.Source(i);
                if (!source.IsNull && source.Name.Contains(".pool_", StringComparison.Ordinal)) Seen.Add(node.OpName);
                // slots sharing mul_mat_id's experts: each token's mask on its expert's rows
                if (!source.IsNull && source.Name.StartsWith("lora_pool_masks", StringComparison.Ordinal)) Seen.Add("masks");
            }
            // one slot of an expert shared with others: A x padded to the expert's rows (the test model has no other PAD)
            if (node.OpName == "PAD") Seen.Add("PAD");
            return false;
        }

        public void OnComputed(GgmlTensor node) { }
    }

    private sealed record Case(string Prompt, (string Path, float Scale)[] Adapters);

    /// <param name="files">The adapters' tensor type in their files (F32 or F16).</param>
    private Case[] Cases(Serve.Gguf.GgmlType files = Serve.Gguf.GgmlType.F32)
    {
        var t = files == Serve.Gguf.GgmlType.F32 ? "" : "-" + files.ToString().ToLowerInvariant();
        var a = Adapter("a" + t, new LoraSpec { Seed = 11, Std = 0.2f, WeightType = files });
        var b = Adapter("b" + t, new LoraSpec { Seed = 22, Std = 0.2f, WeightType = files });
        var c = Adapter("c" + t, new LoraSpec { Seed = 66, Std = 0.2f, Rank = 6, Targets = ["attn_q", "attn_v", "ffn_down"], WeightType = files });
        var d = Adapter("d" + t, new LoraSpec { Seed = 77, Std = 0.2f, Rank = 4, Targets = ["attn_k", "ffn_gate", "ffn_up", "output"], WeightType = files });
        return
        [
            new("The river runs past the market", [(a, 1f)]),                  // one adapter
            new("Once upon a time", [(b, 1f)]),
            new("Count to five and then", [(c, 1f)]),                          // rank 6 (below the pool's 8) on three weights
            new("Why do we learn", [(a, 0.5f), (c, 1.5f)]),                    // two adapters with scales
            new("Tell me a short story", []),                                  // the base model in the same batch
            new("Describe the seasons", [(d, 1f)]),                            // targets including output.weight
        ];
    }

    /// <summary>Greedy tokens and each step's log-softmax, alone on a context with llama.cpp's own LoRA set.</summary>
    private (List<int> Tokens, List<float[]> LogProbs) Reference(Case c, Dictionary<string, LlamaLoraAdapter> loaded)
    {
        using var context = Context(1);
        context.SetAdapters([.. c.Adapters.Select(x => (loaded[x.Path], x.Scale))]);
        var prompt = fixture.Model.Vocab.Tokenize(c.Prompt, addSpecial: true, parseSpecial: false);
        using var batch = new LlamaBatch(256);
        batch.AddRange(prompt, 0, 0, lastLogits: true);
        context.Decode(batch);
        var index = prompt.Length - 1;
        var tokens = new List<int>();
        var logprobs = new List<float[]>();
        for (var i = 0; i < Steps; i++)
        {
            var lp = LogSoftmax(context.GetLogits(index));
            var token = ArgMax(lp);
            tokens.Add(token);
            logprobs.Add(lp);
            batch.Clear();
            batch.Add(token, prompt.Length + i, 0, outputLogits: true);
            context.Decode(batch);
            index = 0;
        }
        return (tokens, logprobs);
    }

    // A small pool and a large one with the adapters spread over its slots (the gathered form on the CPU reads each
    // token's slots' factors at their offsets). hostGathered false: the form weights in GPU memory take (mul_mat_id
    // over the stacked factors), here on the CPU backend, so a machine without a GPU tests that graph too. expertRows
    // above the rank (8): slots share mul_mat_id's experts, as rank-16 slots do four to a 64-row expert on a GPU; with
    // stride 17 the adapters sit in every position of their experts (slots 0, 17, 34, 51: rows 0, 8, 16, 24 of 32).
    [Theory]
    [InlineData(4, 1, true, 0)]
    [InlineData(72, 17, true, 0)]
    [InlineData(4, 1, false, 0)]
    [InlineData(72, 17, false, 0)]
    [InlineData(4, 1, false, 32)]
    [InlineData(72, 17, false, 32)]
    [InlineData(72, 17, false, 16)]
    public void OneBatch_EachSequenceItsOwnAdapters_MatchesLlamaCppsLora(int slots, int slotStride, bool hostGathered, int expertRows)
    {
        var cases = Cases();
        var loaded = Load(cases);
        try
        {
            var expected = cases.Select(c => Reference(c, loaded)).ToList();
            var ops = new PoolOps();
            var actual = Pooled(cases, loaded, slots, slotStride, GgmlType.F32, hostGathered: hostGathered, ops: ops, expertRows: expertRows);
            // the form asked for is the form computed: the gathered op, or mul_mat_id over the stacked factors (with
            // each token's mask where slots share experts)
            Assert.Contains(hostGathered ? "CUSTOM" : "MUL_MAT_ID", ops.Seen);
            Assert.DoesNotContain(hostGathered ? "MUL_MAT_ID" : "CUSTOM", ops.Seen);
            Assert.Equal(expertRows > 8, ops.Seen.Contains("masks"));
            for (var s = 0; s < cases.Length; s++)
            {
                for (var step = 0; step < Steps; step++)
                {
                    Assert.Equal(expected[s].Tokens[step], actual[s].Tokens[step]);
                    var diff = MaxAbsDiffTop(expected[s].LogProbs[step], actual[s].LogProbs[step], 20);
                    Assert.True(diff < 1e-3f, $"case {s} step {step}: log-probabilities differ by {diff}");
                }
            }
            // The adapters matter: each adapter case differs from the base model alone.
            var baseOnly = Reference(cases[0] with { Adapters = [] }, loaded);
            Assert.NotEqual(baseOnly.Tokens, expected[0].Tokens);
        }
        finally
        {
            foreach (var a in loaded.Values) a.Dispose();
        }
    }

    // F16 factors (the engine's default; on this CPU the gathered form's F16 kernel where HostGathers(F16), else
    // mul_mat_id). With F16 adapter files an F16 pool holds exactly the values an F32 pool holds, so the two agree up
    // to the order of the sums (within the same 1e-3; about 1e-4 here after a few steps). llama.cpp's own LoRA, the
    // F32 test's reference, rounds the activations to F16 for F16 factors, which the pool does not: on this random
    // model that alone flips a near-tie token, so it is no reference here.
    [Theory]
    [InlineData(4, 1)]
    [InlineData(72, 17)]
    public void F16Pool_OnF16Files_MatchesF32Pool(int slots, int slotStride)
    {
        var cases = Cases(Serve.Gguf.GgmlType.F16);
        var loaded = Load(cases);
        try
        {
            var f32 = Pooled(cases, loaded, slots, slotStride, GgmlType.F32);
            var f16 = Pooled(cases, loaded, slots, slotStride, GgmlType.F16);
            for (var s = 0; s < cases.Length; s++)
            {
                Assert.Equal(f32[s].Tokens, f16[s].Tokens);
                for (var step = 0; step < Steps; step++)
                {
                    var diff = MaxAbsDiffTop(f32[s].LogProbs[step], f16[s].LogProbs[step], 20);
                    Assert.True(diff < 1e-3f, $"case {s} step {step}: log-probabilities differ by {diff}");
                }
            }
        }
        finally
        {
            foreach (var a in loaded.Values) a.Dispose();
        }
    }

    // F16 factors in the GPU-memory form (mul_mat_id, the engine's default pool on a GPU), on the CPU backend. Like
    // llama.cpp's own LoRA with F16 factors, mul_mat_id rounds its inputs to F16, so it is not within 1e-3 of the F32
    // pool (up to about 4e-3 here) and near-tie tokens may part; both are fed the F32 pool's tokens and compared
    // within 1e-2. That still tells a wrong slot, scale or factor from rounding: every adapter moves these
    // log-probabilities by far more than 1e-2 (checked).
    [Theory]
    [InlineData(4, 1, 0)]
    [InlineData(72, 17, 0)]
    [InlineData(72, 17, 32)]
    public void F16Pool_GpuMemoryForm_WithinF16RoundingOfF32Pool(int slots, int slotStride, int expertRows)
    {
        var cases = Cases(Serve.Gguf.GgmlType.F16);
        var loaded = Load(cases);
        try
        {
            var f32 = Pooled(cases, loaded, slots, slotStride, GgmlType.F32);
            var forced = f32.Select(r => r.Tokens).ToArray();
            var ops = new PoolOps();
            var f16 = Pooled(cases, loaded, slots, slotStride, GgmlType.F16, hostGathered: false, ops: ops, forced: forced, expertRows: expertRows);
            var baseOnly = Pooled([.. cases.Select(c => c with { Adapters = [] })], loaded, slots, slotStride, GgmlType.F32, forced: forced);
            Assert.Contains("MUL_MAT_ID", ops.Seen);
            for (var s = 0; s < cases.Length; s++)
            {
                for (var step = 0; step < Steps; step++)
                {
                    var diff = MaxAbsDiffTop(f32[s].LogProbs[step], f16[s].LogProbs[step], 20);
                    Assert.True(diff < 1e-2f, $"case {s} step {step}: log-probabilities differ by {diff}");
                }
                if (cases[s].Adapters.Length == 0) continue;
                var effect = WorstStep(f32[s].LogProbs, baseOnly[s].LogProbs);
                Assert.True(effect > 1e-1f, $"case {s}: the adapters move the log-probabilities by only {effect}");
            }
        }
        finally
        {
            foreach (var a in loaded.Values) a.Dispose();
        }
    }

    // Q8_0 factors (rank padded to 32, whole blocks), the opt-in GPU type: mul_mat_id everywhere, here on the CPU
    // backend. ggml's Q8_0 products round the factors and the products' inputs to 8 bits, so the result is lossy in
    // proportion to what the adapters change: fed the F32 pool's tokens, each adapter case's log-probabilities stay
    // within a tenth of the adapters' own effect on them (0.6-6.8 % on these strong random adapters: up to 0.17 where
    // a rank-4 adapter on output.weight moves them by 5.3). The base-only sequence in the same batch is unaffected.
    [Fact]
    public void Q8_0Pool_ErrorIsASmallFractionOfTheAdaptersEffect()
    {
        var cases = Cases();
        var loaded = Load(cases);
        try
        {
            var f32 = Pooled(cases, loaded, 72, 17, GgmlType.F32);
            var forced = f32.Select(r => r.Tokens).ToArray();
            var ops = new PoolOps();
            var q8 = Pooled(cases, loaded, 72, 17, GgmlType.Q8_0, ops: ops, forced: forced, maxRank: 32);
            var baseOnly = Pooled([.. cases.Select(c => c with { Adapters = [] })], loaded, 72, 17, GgmlType.F32, forced: forced);
            Assert.Contains("MUL_MAT_ID", ops.Seen);
            for (var s = 0; s < cases.Length; s++)
            {
                var error = WorstStep(f32[s].LogProbs, q8[s].LogProbs);
                if (cases[s].Adapters.Length == 0)
                {
                    Assert.True(error < 1e-3f, $"case {s} (base model): log-probabilities differ by {error}");
                    continue;
                }
                var effect = WorstStep(f32[s].LogProbs, baseOnly[s].LogProbs);
                Assert.True(effect > 1e-1f, $"case {s}: the adapters move the log-probabilities by only {effect}");
                Assert.True(error < 0.1f * effect, $"case {s}: Q8_0 is off by {error}, the adapters' effect is {effect}");
            }
        }
        finally
        {
            foreach (var a in loaded.Values) a.Dispose();
        }
    }

    [Fact]
    public void ExpertRows_NotWholeSlotsOrSharedByQ8_0_AreRefused()
    {
        using (var context = Context(1))
        {
            var e = Assert.Throws<ArgumentException>(() => context.CreateAdapterPool(4, maxRank: 8, expertRows: 12));
            Assert.Contains("whole number of slots", e.Message);
        }
        using (var context = Context(1))
        {
            var e = Assert.Throws<ArgumentException>(() => context.CreateAdapterPool(4, maxRank: 32, type: GgmlType.Q8_0, expertRows: 64));
            Assert.Contains("Q8_0", e.Message);
        }
    }

    [Fact]
    public void Q8_0Pool_RankNotWholeBlocks_IsRefused()
    {
        using var context = Context(1);
        var e = Assert.Throws<ArgumentException>(() => context.CreateAdapterPool(4, maxRank: 16, type: GgmlType.Q8_0));
        Assert.Contains("multiple of 32", e.Message);
    }

    private Dictionary<string, LlamaLoraAdapter> Load(Case[] cases) =>
        cases.SelectMany(c => c.Adapters.Select(a => a.Path)).Distinct().ToDictionary(p => p, p => LlamaLoraAdapter.Load(fixture.Model, p));

    /// <summary>
    /// Every case in one pooled context: every prompt in one batch, then every sequence's next greedy token in one
    /// batch per step, each token on its own case's slots (adapter i in slot i * slotStride). forced: feed these
    /// tokens instead of the greedy ones (the log-probabilities are still of this run).
    /// </summary>
    private List<(List<int> Tokens, List<float[]> LogProbs)> Pooled(Case[] cases, Dictionary<string, LlamaLoraAdapter> loaded, int slots, int slotStride, GgmlType type,
        int threads = 2, bool hostGathered = true, PoolOps? ops = null, IReadOnlyList<List<int>>? forced = null, int maxRank = 8, int expertRows = 0)
    {
        using var context = Context(cases.Length, threads, ops);
        var pool = context.CreateAdapterPool(slots, maxRank, adaptersPerToken: 4, type, hostGathered, expertRows);
        var slotOf = new Dictionary<string, int>();
        foreach (var (path, adapter) in loaded)
        {
            pool.AddTargets(adapter);
            pool.SetSlot(slotOf[path] = slotOf.Count * slotStride, adapter);
        }
        LlamaAdapterSlot[] SlotsOf(Case c) => [.. c.Adapters.Select(a => new LlamaAdapterSlot(slotOf[a.Path], a.Scale))];

        using var batch = new LlamaBatch(256, adaptersPerToken: 4);
        var prompts = cases.Select(c => fixture.Model.Vocab.Tokenize(c.Prompt, addSpecial: true, parseSpecial: false)).ToArray();
        var results = cases.Select(_ => (Tokens: new List<int>(), LogProbs: new List<float[]>())).ToList();
        var outputs = new int[cases.Length];
        for (var s = 0; s < cases.Length; s++)
        {
            batch.AddRange(prompts[s], 0, s, lastLogits: true, SlotsOf(cases[s]));
            outputs[s] = batch.Count - 1;
        }
        context.Decode(batch);
        for (var step = 0; step < Steps; step++)
        {
            batch.Clear();
            for (var s = 0; s < cases.Length; s++)
            {
                var lp = LogSoftmax(context.GetLogits(outputs[s]));
                results[s].Tokens.Add(forced is null ? ArgMax(lp) : forced[s][step]);
                results[s].LogProbs.Add(lp);
                outputs[s] = batch.Add(results[s].Tokens[^1], prompts[s].Length + step, s, true, SlotsOf(cases[s]));
            }
            context.Decode(batch);
        }
        return results;
    }

    // One sequence on four threads: each decode step has one token (and the prompt's output.weight product one
    // column), fewer columns than threads, so the gathered form's threads split each token's output rows. F32 factors
    // against llama.cpp's own LoRA; F16 factors (on F16 files) against the F32 pool on two threads.
    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    public void OneSequence_FewerTokensThanThreads_MatchesTheReference(GgmlType type)
    {
        var cases = Cases(type == GgmlType.F32 ? Serve.Gguf.GgmlType.F32 : Serve.Gguf.GgmlType.F16);
        var loaded = Load(cases);
        try
        {
            foreach (var c in new[] { cases[0], cases[3], cases[5] }) // one adapter; two with scales; output.weight
            {
                var expected = type == GgmlType.F32 ? Reference(c, loaded) : Pooled([c], loaded, 4, 1, GgmlType.F32)[0];
                var actual = Pooled([c], loaded, 4, 1, type, threads: 4)[0];
                Assert.Equal(expected.Tokens, actual.Tokens);
                for (var step = 0; step < Steps; step++)
                {
                    var diff = MaxAbsDiffTop(expected.LogProbs[step], actual.LogProbs[step], 20);
                    Assert.True(diff < 1e-3f, $"'{c.Prompt}' step {step}: log-probabilities differ by {diff}");
                }
            }
        }
        finally
        {
            foreach (var a in loaded.Values) a.Dispose();
        }
    }

    [Fact]
    public void HostGathers_F32Always_F16WhereTheCpuConvertsHalvesInSimd()
    {
        Assert.True(LlamaAdapterPool.HostGathers(GgmlType.F32));
        // The native kernel needs AVX2, FMA and F16C; .NET reports the first two (every AVX2 CPU has F16C).
        var x86 = System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported;
        Assert.Equal(x86, LlamaAdapterPool.HostGathers(GgmlType.F16));
        Assert.False(LlamaAdapterPool.HostGathers(GgmlType.Q8_0));
    }

    [Theory]
    [InlineData(1f, true, 0)]
    [InlineData(0.5f, true, 0)]
    [InlineData(1f, false, 0)]
    [InlineData(0.5f, false, 0)]
    [InlineData(0.5f, false, 32)]
    public void UniformBatch_EveryTokenOnOneSlot_MatchesLlamaCppsLora(float scale, bool hostGathered, int expertRows)
    {
        // Every token on the same slot: the gathered form on host memory, with the slot index read per token; in the
        // GPU-memory form (hostGathered false), plain products on views of that slot's factors, no mul_mat_id. Both
        // give the logits of llama.cpp's own LoRA. With slots sharing 32-row experts, slot 2 is rows 16-23 of expert
        // 0 beside slot 0's rows 0-7: A x is padded to the expert's rows for its B.
        var cases = Cases();
        var a = LlamaLoraAdapter.Load(fixture.Model, cases[0].Adapters[0].Path);
        var d = LlamaLoraAdapter.Load(fixture.Model, cases[5].Adapters[0].Path); // output.weight among its targets
        try
        {
            var prompts = new[] { "The river runs past the market", "Once upon a time", "Why do we learn" }
                .Select(p => fixture.Model.Vocab.Tokenize(p, addSpecial: true, parseSpecial: false)).ToArray();
            foreach (var adapter in new[] { a, d })
            {
                using var reference = Context(prompts.Length);
                reference.SetAdapters([(adapter, scale)]);
                var ops = new PoolOps();
                using var pooled = Context(prompts.Length, observer: ops);
                var pool = pooled.CreateAdapterPool(slots: 3, maxRank: 8, adaptersPerToken: 2, hostGathered: hostGathered, expertRows: expertRows);
                pool.AddTargets(a);
                pool.AddTargets(d);
                // slot 2 first, then its neighbours written and cleared around it (in one expert where slots share
                // them): another adapter in slot 0, so the slot index must matter, and slot 1 filled and cleared
                pool.SetSlot(2, adapter);
                pool.SetSlot(1, adapter);
                pool.SetSlot(0, a == adapter ? d : a);
                pool.SetSlot(1, null);
                using var plain = new LlamaBatch(256);
                using var slotted = new LlamaBatch(256, adaptersPerToken: 2);
                var outputs = new List<int>();
                for (var s = 0; s < prompts.Length; s++)
                {
                    plain.AddRange(prompts[s], 0, s, lastLogits: true);
                    slotted.AddRange(prompts[s], 0, s, lastLogits: true, [new LlamaAdapterSlot(2, scale)]);
                    outputs.Add(plain.Count - 1);
                }
                reference.Decode(plain);
                pooled.Decode(slotted);
                Assert.Contains(hostGathered ? "CUSTOM" : "MUL_MAT", ops.Seen);
                Assert.DoesNotContain("MUL_MAT_ID", ops.Seen);
                Assert.Equal(expertRows > 8, ops.Seen.Contains("PAD"));
                foreach (var o in outputs)
                {
                    var diff = MaxAbsDiffTop(LogSoftmax(reference.GetLogits(o)), LogSoftmax(pooled.GetLogits(o)), 20);
                    Assert.True(diff < 1e-3f, $"output {o}: log-probabilities differ by {diff}");
                }
            }
        }
        finally
        {
            a.Dispose(); d.Dispose();
        }
    }

    // In both forms: on the GPU-memory form (hostGathered false) one-slot batches build views at the slot's offset
    // and mixed batches mul_mat_id, so the graph changes step to step, yet never needs a re-reserve; nor when the two
    // slots share one expert (expertRows 16), where one-slot batches pad A x at the slot's rows.
    [Theory]
    [InlineData(true, 0)]
    [InlineData(false, 0)]
    [InlineData(false, 16)]
    public void SlotChanges_NeverReReserveTheGraph_OnlyNewTargetsDo(bool hostGathered, int expertRows)
    {
        var cases = Cases();
        var a = LlamaLoraAdapter.Load(fixture.Model, cases[0].Adapters[0].Path);   // every attention and ffn weight
        var b = LlamaLoraAdapter.Load(fixture.Model, cases[1].Adapters[0].Path);   // the same weights
        var d = LlamaLoraAdapter.Load(fixture.Model, cases[5].Adapters[0].Path);   // adds output.weight
        var provider = new ReserveCounter();
        using var factory = LoggerFactory.Create(x => x.AddProvider(provider).SetMinimumLevel(LogLevel.Trace));
        LlamaLogging.SetLoggerFactory(factory);
        try
        {
            using var context = Context(2);
            var pool = context.CreateAdapterPool(slots: 2, maxRank: 8, adaptersPerToken: 1, hostGathered: hostGathered, expertRows: expertRows);
            var prompt = fixture.Model.Vocab.Tokenize("The river runs", addSpecial: true, parseSpecial: false);
            using var batch = new LlamaBatch(64, adaptersPerToken: 1);
            var position = 0;
            void Step(int? slot)
            {
                batch.Clear();
                if (position == 0)
                {
                    batch.AddRange(prompt, 0, 0, true, slot is { } s0 ? [new LlamaAdapterSlot(s0, 1f)] : []);
                    position = prompt.Length;
                }
                else
                {
                    batch.Add(prompt[0], position++, 0, true, slot is { } s ? [new LlamaAdapterSlot(s, 1f)] : []);
                }
                context.Decode(batch);
            }
            var position1 = 0;
            void Mixed() // sequence 0 on slot 0 beside sequence 1 on slot 1, in one decode
            {
                batch.Clear();
                batch.Add(prompt[0], position++, 0, true, [new LlamaAdapterSlot(0, 1f)]);
                batch.Add(prompt[0], position1++, 1, true, [new LlamaAdapterSlot(1, 1f)]);
                context.Decode(batch);
            }

            Assert.Equal(0, pool.TargetCount);
            Step(null); // the first decode reserves the graph
            Assert.True(pool.AddTargets(a) > 0);
            pool.SetSlot(0, a);
            Step(0);    // new weights: one re-reserve
            var afterTargets = provider.Reserves;
            var targets = pool.TargetCount;

            Assert.Equal(0, pool.AddTargets(b));
            for (var i = 0; i < 6; i++)
            {
                pool.SetSlot(i % 2, i % 3 == 0 ? b : a);   // swap adapters between slots
                Step(i % 2);                                  // and tokens between slots
                Step(null);                                   // and a base-only decode
                Mixed();                                      // and two slots in one decode
            }
            pool.SetSlot(1, null);
            Step(0);
            Assert.Equal(afterTargets, provider.Reserves);
            Assert.Equal(targets, pool.TargetCount);

            // An adapter that changes a weight no other did (output.weight) adds it, once.
            Assert.Equal(1, pool.AddTargets(d));
            pool.SetSlot(1, d);
            Step(1);
            Assert.True(afterTargets + 1 == provider.Reserves, string.Join("\n", provider.Lines));
            Step(1);
            Assert.Equal(afterTargets + 1, provider.Reserves);
        }
        finally
        {
            LlamaLogging.SetLoggerFactory(null);
            a.Dispose(); b.Dispose(); d.Dispose();
        }
    }

    [Fact]
    public void PerTokenSlots_ApplyToOneDecodeOnly_TheNextWithoutThemIsTheBaseModel()
    {
        var a = LlamaLoraAdapter.Load(fixture.Model, Adapter("a", new LoraSpec { Seed = 11, Std = 0.2f }));
        try
        {
            var prompt = fixture.Model.Vocab.Tokenize("The river runs past", addSpecial: true, parseSpecial: false);
            float[] Logits(LlamaContext context, bool withAdapter)
            {
                using var batch = new LlamaBatch(64, adaptersPerToken: 1);
                context.Memory.Clear();
                batch.AddRange(prompt, 0, 0, true, withAdapter ? [new LlamaAdapterSlot(0, 1f)] : []);
                context.Decode(batch);
                return context.GetLogits(prompt.Length - 1).ToArray();
            }
            using var plain = Context(1);
            var expected = Logits(plain, false);
            using var pooled = Context(1);
            var pool = pooled.CreateAdapterPool(slots: 1, maxRank: 8);
            pool.AddTargets(a);
            pool.SetSlot(0, a);
            var adapted = Logits(pooled, true);
            var after = Logits(pooled, false);
            Assert.True(Decoding.MaxAbsDiff(expected, adapted) > 1e-2f, "the adapter changed nothing");
            Assert.Equal(expected, after); // bit for bit: no LoRA nodes at all in a decode without slots
        }
        finally
        {
            a.Dispose();
        }
    }

    [Fact]
    public void BadUse_IsRefusedWithReasons_AndTheContextKeepsDecoding()
    {
        var a = LlamaLoraAdapter.Load(fixture.Model, Adapter("a", new LoraSpec { Seed = 11, Std = 0.2f }));
        var wide = LlamaLoraAdapter.Load(fixture.Model, Adapter("wide", new LoraSpec { Seed = 12, Rank = 16 }));
        try
        {
            using var context = Context(1);
            using var batch = new LlamaBatch(8, adaptersPerToken: 1);
            batch.Add(1, 0, 0, true, [new LlamaAdapterSlot(0, 1f)]);
            Assert.Throws<ArgumentException>(() => context.Decode(batch));          // no pool
            var pool = context.CreateAdapterPool(slots: 2, maxRank: 8);
            Assert.Throws<InvalidOperationException>(() => context.CreateAdapterPool(2, 8));
            Assert.Throws<LlamaException>(() => pool.SetSlot(0, a));                 // AddTargets first
            var rank = Assert.Throws<LlamaException>(() => pool.AddTargets(wide)); // rank 16 > 8
            Assert.Contains("rank", rank.Message);
            Assert.Throws<ArgumentOutOfRangeException>(() => pool.SetSlot(2, null));
            pool.AddTargets(a);
            pool.SetSlot(0, a);
            batch.Clear();
            batch.Add(1, 0, 0, true, [new LlamaAdapterSlot(5, 1f)]);
            Assert.Throws<ArgumentException>(() => context.Decode(batch));          // slot outside the pool
            batch.Clear();
            batch.Add(1, 0, 0, true, [new LlamaAdapterSlot(0, 1f)]);
            context.Decode(batch);
            Assert.True(float.IsFinite(context.GetLogits(0)[0]));
        }
        finally
        {
            a.Dispose(); wide.Dispose();
        }
    }

    private static float[] LogSoftmax(ReadOnlySpan<float> logits)
    {
        var max = float.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double sum = 0;
        foreach (var x in logits) sum += Math.Exp(x - max);
        var lse = max + (float)Math.Log(sum);
        var result = new float[logits.Length];
        for (var i = 0; i < logits.Length; i++) result[i] = logits[i] - lse;
        return result;
    }

    private static int ArgMax(float[] values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    /// <summary>Largest difference over the reference's top-n tokens.</summary>
    /// <summary>The largest <see cref="MaxAbsDiffTop"/> (top 20) over a sequence's steps.</summary>
    private static float WorstStep(List<float[]> expected, List<float[]> actual) =>
        Enumerable.Range(0, Steps).Max(step => MaxAbsDiffTop(expected[step], actual[step], 20));

    private static float MaxAbsDiffTop(float[] expected, float[] actual, int n)
    {
        var top = Enumerable.Range(0, expected.Length).OrderByDescending(i => expected[i]).Take(n);
        return top.Max(i => Math.Abs(expected[i] - actual[i]));
    }

    /// <summary>Counts llama.cpp's "sched_reserve: reserving" log lines: each is one re-reserve of the graph.</summary>
    private sealed class ReserveCounter : ILoggerProvider
    {
        private int _reserves;
        public int Reserves => Volatile.Read(ref _reserves);
        public ConcurrentQueue<string> Lines { get; } = new();
        public ILogger CreateLogger(string categoryName) => new Logger(this);
        public void Dispose() { }

        private sealed class Logger(ReserveCounter owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var line = formatter(state, exception);
                if (line.Contains("reserv", StringComparison.Ordinal)) owner.Lines.Enqueue(line);
                if (line.StartsWith("sched_reserve: reserving ...", StringComparison.Ordinal)) Interlocked.Increment(ref owner._reserves);
            }
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
