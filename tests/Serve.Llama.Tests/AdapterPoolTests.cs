using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
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

    private LlamaContext Context(int seqMax) => LlamaContext.Create(fixture.Model, new LlamaContextOptions
    {
        ContextSize = 256 * seqMax, SeqMax = seqMax, BatchSize = 256, UBatchSize = 256, Threads = 2, KvUnified = true,
        TypeK = GgmlType.F32, TypeV = GgmlType.F32,
    });

    private sealed record Case(string Prompt, (string Path, float Scale)[] Adapters);

    private Case[] Cases()
    {
        var a = Adapter("a", new LoraSpec { Seed = 11, Std = 0.2f });
        var b = Adapter("b", new LoraSpec { Seed = 22, Std = 0.2f });
        var c = Adapter("c", new LoraSpec { Seed = 66, Std = 0.2f, Rank = 8, Targets = ["attn_q", "attn_v", "ffn_down"] });
        var d = Adapter("d", new LoraSpec { Seed = 77, Std = 0.2f, Rank = 4, Targets = ["attn_k", "ffn_gate", "ffn_up", "output"] });
        return
        [
            new("The river runs past the market", [(a, 1f)]),                  // one adapter
            new("Once upon a time", [(b, 1f)]),
            new("Count to five and then", [(c, 1f)]),                          // rank 8 on three weights
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
    // token's slots' factors at their offsets).
    [Theory]
    [InlineData(4, 1)]
    [InlineData(72, 17)]
    public void OneBatch_EachSequenceItsOwnAdapters_MatchesLlamaCppsLora(int slots, int slotStride)
    {
        var cases = Cases();
        var paths = cases.SelectMany(c => c.Adapters.Select(a => a.Path)).Distinct().ToList();
        var loaded = paths.ToDictionary(p => p, p => LlamaLoraAdapter.Load(fixture.Model, p));
        try
        {
            var expected = cases.Select(c => Reference(c, loaded)).ToList();

            using var context = Context(cases.Length);
            var pool = context.CreateAdapterPool(slots, maxRank: 8, adaptersPerToken: 4);
            var slotOf = new Dictionary<string, int>();
            foreach (var p in paths)
            {
                pool.AddTargets(loaded[p]);
                pool.SetSlot(slotOf[p] = slotOf.Count * slotStride, loaded[p]);
            }
            LlamaAdapterSlot[] SlotsOf(Case c) => [.. c.Adapters.Select(a => new LlamaAdapterSlot(slotOf[a.Path], a.Scale))];

            // Every prompt in one batch, then every sequence's next token in one batch per step.
            using var batch = new LlamaBatch(256, adaptersPerToken: 4);
            var prompts = cases.Select(c => fixture.Model.Vocab.Tokenize(c.Prompt, addSpecial: true, parseSpecial: false)).ToArray();
            var outputs = new int[cases.Length];
            for (var s = 0; s < cases.Length; s++)
            {
                batch.AddRange(prompts[s], 0, s, lastLogits: true, SlotsOf(cases[s]));
                outputs[s] = batch.Count - 1;
            }
            context.Decode(batch);
            for (var step = 0; step < Steps; step++)
            {
                var next = new int[cases.Length];
                for (var s = 0; s < cases.Length; s++)
                {
                    var lp = LogSoftmax(context.GetLogits(outputs[s]));
                    next[s] = ArgMax(lp);
                    Assert.Equal(expected[s].Tokens[step], next[s]);
                    var diff = MaxAbsDiffTop(expected[s].LogProbs[step], lp, 20);
                    Assert.True(diff < 1e-3f, $"case {s} step {step}: log-probabilities differ by {diff}");
                }
                batch.Clear();
                for (var s = 0; s < cases.Length; s++) outputs[s] = batch.Add(next[s], prompts[s].Length + step, s, true, SlotsOf(cases[s]));
                context.Decode(batch);
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

    [Theory]
    [InlineData(1f)]
    [InlineData(0.5f)]
    public void UniformBatch_EveryTokenOnOneSlot_MatchesLlamaCppsLora(float scale)
    {
        // Every token on the same slot takes plain products on that slot's factors (no mul_mat_id): same logits.
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
                using var pooled = Context(prompts.Length);
                var pool = pooled.CreateAdapterPool(slots: 3, maxRank: 8, adaptersPerToken: 2);
                pool.AddTargets(a);
                pool.AddTargets(d);
                pool.SetSlot(0, a == adapter ? d : a); // another adapter in slot 0: the slot index must matter
                pool.SetSlot(2, adapter);
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

    [Fact]
    public void SlotChanges_NeverReReserveTheGraph_OnlyNewTargetsDo()
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
            var pool = context.CreateAdapterPool(slots: 2, maxRank: 8, adaptersPerToken: 1);
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
