namespace Serve.Llama.Tests;

[Collection(LlamaModelCollection.Name)]
public sealed class DecodeTests(LlamaModelFixture fixture)
{
    private static readonly string[] Prompts =
    [
        "Once upon a time",
        "The quick brown fox jumps over the lazy dog",
        "Dear friend,",
        "1 2 3 4 5 6 7 8 9 10 11 12",
        "café",
        "A much longer prompt that goes on for a while so that its length differs clearly from the others",
        "Hi",
        "Numbers and letters: x1 y2 z3",
    ];

    [Fact]
    public void GreedyGeneration_TwoRuns_SameTwentyTokens()
    {
        using var context = fixture.CreateContext();
        using var sampler = new LlamaSamplerChain().Greedy();
        var prompt = fixture.Model.Vocab.Tokenize("Once upon a time", true, false);
        var first = Decoding.Generate(context, sampler, prompt, 20);
        sampler.Reset();
        var second = Decoding.Generate(context, sampler, prompt, 20);
        Assert.Equal(20, first.Count);
        Assert.Equal(first, second);
    }

    [Fact]
    public void Decode_EightSequencesInOneBatch_MatchEachDecodedAlone()
    {
        var vocab = fixture.Model.Vocab;
        var tokenized = Prompts.Select(p => vocab.Tokenize(p, true, false)).ToArray();
        Assert.True(tokenized.Select(t => t.Length).Distinct().Count() > 4);

        float[][] batched;
        using (var context = fixture.CreateContext(seqMax: 8, contextSize: 512))
        using (var batch = new LlamaBatch(tokenized.Sum(t => t.Length)))
        {
            var lastIndex = new int[tokenized.Length];
            for (var s = 0; s < tokenized.Length; s++)
            {
                for (var i = 0; i < tokenized[s].Length; i++)
                    lastIndex[s] = batch.Add(tokenized[s][i], i, s, outputLogits: i == tokenized[s].Length - 1);
            }
            context.Decode(batch);
            batched = lastIndex.Select(i => context.GetLogits(i).ToArray()).ToArray();
            for (var s = 0; s < tokenized.Length; s++) Assert.Equal(tokenized[s].Length - 1, context.Memory.SeqPosMax(s));
        }

        using var single = fixture.CreateContext();
        for (var s = 0; s < tokenized.Length; s++)
        {
            single.Memory.Clear();
            var alone = Decoding.PromptLogits(single, tokenized[s]);
            var scale = Math.Max(Decoding.MaxAbs(alone), 1e-3f);
            var diff = Decoding.MaxAbsDiff(batched[s], alone);
            Assert.True(diff <= 1e-4f * scale, $"sequence {s}: max abs diff {diff} vs max logit {scale}");
        }
    }

    [Fact]
    public void GetLogits_IndexWithoutOutput_ThrowsInsteadOfCrashing()
    {
        using var context = fixture.CreateContext();
        using var batch = new LlamaBatch(4);
        batch.AddRange([1, 50, 60], 0, 0, lastLogits: true);
        context.Decode(batch);
        Assert.Throws<ArgumentOutOfRangeException>(() => context.GetLogits(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => context.GetLogits(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => context.GetLogits(-1));
        Assert.Equal(fixture.Model.Vocab.Count, context.GetLogits(2).Length);
    }

    [Fact]
    public void Decode_InvalidBatches_ThrowManagedExceptions()
    {
        using var context = fixture.CreateContext(seqMax: 2);
        using var batch = new LlamaBatch(2);
        Assert.Throws<ArgumentException>(() => context.Decode(batch)); // empty
        batch.Add(fixture.Model.Vocab.Count + 10, 0, 0, true);
        Assert.Throws<ArgumentException>(() => context.Decode(batch)); // token out of vocab
        batch.Clear();
        batch.Add(1, 0, 5, true);
        Assert.Throws<ArgumentException>(() => context.Decode(batch)); // seq >= n_seq_max
        batch.Clear();
        Assert.Throws<ArgumentException>(() => batch.Add(3, 0, ReadOnlySpan<int>.Empty, true));
        Assert.Throws<ArgumentException>(() => batch.Add(3, 0, [0, 1], true)); // more seq ids than the batch holds
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.Add(3, -1, 0, true));
        batch.Add(1, 0, 0, true);
        batch.Add(2, 1, 0, true);
        Assert.Throws<InvalidOperationException>(() => batch.Add(3, 2, 0, true)); // capacity
        context.Decode(batch);
        Assert.Equal(fixture.Model.Vocab.Count, context.GetLogits(1).Length);
    }

    [Fact]
    public void Decode_NonContinuousPositions_ThrowsDecodeExceptionWithNativeReason()
    {
        using var context = fixture.CreateContext();
        using var batch = new LlamaBatch(2);
        batch.Add(1, 0, 0, false);
        batch.Add(2, 5, 0, true);
        var ex = Assert.Throws<LlamaDecodeException>(() => context.Decode(batch));
        Assert.Equal(-1, ex.ReturnCode);
        Assert.Contains("invalid input batch", ex.Message);
        Assert.Contains("positions", ex.Message);
        // The context is still usable.
        Assert.NotEmpty(Decoding.PromptLogits(context, [1, 2, 3]));
    }

    [Fact]
    public void Decode_ContextFull_ThrowsNoKvSlot_AndKeepsMemory()
    {
        using var context = fixture.CreateContext(contextSize: 256);
        using var batch = new LlamaBatch(200);
        for (var i = 0; i < 200; i++) batch.Add(10, i, 0, i == 199);
        context.Decode(batch);
        batch.Clear();
        for (var i = 200; i < 300; i++) batch.Add(10, i, 0, i == 299);
        var ex = Assert.Throws<LlamaDecodeException>(() => context.Decode(batch));
        Assert.Equal(1, ex.ReturnCode);
        Assert.True(ex.IsNoKvSlot);
        Assert.Equal(199, context.Memory.SeqPosMax(0)); // restored to the state before the call
    }

    [Fact]
    public void Memory_SeqOperations_TrackPositions()
    {
        using var context = fixture.CreateContext(seqMax: 2);
        Decoding.PromptLogits(context, [1, 20, 30, 40, 50]);
        var memory = context.Memory;
        Assert.Equal(0, memory.SeqPosMin(0));
        Assert.Equal(4, memory.SeqPosMax(0));
        Assert.Equal(-1, memory.SeqPosMax(1));
        memory.SeqCopy(0, 1, 1, 3); // separate streams: a whole-stream copy, then trimmed to [1, 3)
        Assert.Equal(1, memory.SeqPosMin(1));
        Assert.Equal(2, memory.SeqPosMax(1));
        memory.SeqCopy(0, 1);
        Assert.Equal(0, memory.SeqPosMin(1));
        Assert.Equal(4, memory.SeqPosMax(1));
        Assert.True(memory.SeqRemove(1, 3, -1));
        Assert.Equal(2, memory.SeqPosMax(1));
        Assert.True(memory.SeqRemove(0, 3, -1));
        Assert.Equal(2, memory.SeqPosMax(0));
        memory.SeqAdd(1, 0, -1, 10);
        Assert.Equal(12, memory.SeqPosMax(1));
        memory.SeqKeep(1);
        Assert.Equal(-1, memory.SeqPosMax(0));
        memory.Clear();
        Assert.Equal(-1, memory.SeqPosMax(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.SeqPosMax(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.SeqCopy(0, 7));
    }

    [Fact]
    public void Memory_UnifiedKv_SharesPartialPrefix()
    {
        using var context = LlamaContext.Create(fixture.Model, new LlamaContextOptions { ContextSize = 256, SeqMax = 2, KvUnified = true, Threads = 2 });
        var full = Decoding.PromptLogits(context, [1, 20, 30, 40]);
        context.Memory.SeqCopy(0, 1, 0, 3); // share positions 0..2
        Assert.Equal(2, context.Memory.SeqPosMax(1));
        using var batch = new LlamaBatch(1);
        batch.Add(40, 3, 1, true);
        context.Decode(batch);
        Assert.True(Decoding.MaxAbsDiff(full, context.GetLogits(0)) <= 1e-4f * Decoding.MaxAbs(full));
    }

    [Fact]
    public void Memory_SeparateStreams_PartialCopyThenDecode_GivesSameLogits()
    {
        // Without a unified KV cache a partial copy is a whole-stream copy, trimmed; the data moves at the next
        // decode, which must then see the prefix that src had when the copy was asked for.
        using var context = fixture.CreateContext(seqMax: 2);
        var full = Decoding.PromptLogits(context, [1, 20, 30, 40]);
        context.Memory.SeqCopy(0, 1, 0, 3);
        context.Memory.SeqRemove(0);
        Assert.Equal(2, context.Memory.SeqPosMax(1));
        using var batch = new LlamaBatch(2);
        batch.Add(40, 3, 1, true);
        batch.Add(1, 0, 0, false); // seq 0 starts over in the same decode
        context.Decode(batch);
        Assert.True(Decoding.MaxAbsDiff(full, context.GetLogits(0)) <= 1e-4f * Decoding.MaxAbs(full));
    }

    [Fact]
    public void Memory_RemoveTailThenRedecode_GivesSameLogits()
    {
        using var context = fixture.CreateContext();
        var first = Decoding.PromptLogits(context, [1, 20, 30, 40]);
        Assert.True(context.Memory.SeqRemove(0, 3, -1));
        using var batch = new LlamaBatch(1);
        batch.Add(40, 3, 0, true);
        context.Decode(batch);
        Assert.True(Decoding.MaxAbsDiff(first, context.GetLogits(0)) <= 1e-4f * Decoding.MaxAbs(first));
    }

    [Fact]
    public void Decode_CancelledToken_ThrowsOperationCanceled()
    {
        using var context = fixture.CreateContext();
        using var batch = new LlamaBatch(8);
        batch.AddRange([1, 2, 3, 4, 5, 6, 7, 8], 0, 0, true);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => context.Decode(batch, cts.Token));
        context.Memory.Clear();
        context.Decode(batch);
    }

    [Fact]
    public void Context_Properties_ReflectOptions()
    {
        using var context = LlamaContext.Create(fixture.Model, new LlamaContextOptions { ContextSize = 256, SeqMax = 4, BatchSize = 128, UBatchSize = 64, Threads = 1, NoPerf = false });
        // Without a unified KV cache every sequence gets its own stream of n_ctx / n_seq_max cells, padded to 256.
        Assert.Equal(4, context.SeqMax);
        Assert.Equal(256, context.ContextSizePerSequence);
        Assert.Equal(1024, context.ContextSize);
        Assert.Equal(128, context.BatchSize);
        Assert.Equal(64, context.UBatchSize);
        Assert.Equal((1, 1), context.Threads);
        context.Threads = (2, 2);
        Assert.Equal((2, 2), context.Threads);
        Decoding.PromptLogits(context, [1, 2, 3]);
        Assert.Equal(3, context.Performance.PromptTokens);
    }
}
