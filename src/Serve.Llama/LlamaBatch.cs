using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>
/// Tokens to decode in one llama_decode call, each with its position, the sequences it belongs to, and whether
/// its logits are wanted. Owns native memory (llama_batch_init); reuse it with <see cref="Clear"/>. Not thread-safe.
/// </summary>
public sealed unsafe class LlamaBatch : IDisposable
{
    private readonly SafeLlamaBatchHandle _handle;

    public LlamaBatch(int capacity, int maxSequencesPerToken = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSequencesPerToken, 1);
        LlamaBackend.Initialize();
        Capacity = capacity;
        MaxSequencesPerToken = maxSequencesPerToken;
        _handle = SafeLlamaBatchHandle.Allocate(capacity, maxSequencesPerToken);
    }

    public int Capacity { get; }
    public int MaxSequencesPerToken { get; }
    public int Count { get; private set; }

    /// <summary>How many tokens ask for logits.</summary>
    public int OutputCount { get; private set; }

    /// <summary>Adds a token for one sequence.</summary>
    public int Add(int token, int position, int sequenceId, bool outputLogits) =>
        Add(token, position, [sequenceId], outputLogits);

    /// <summary>Adds a token shared by several sequences (e.g. a common prompt prefix). Returns its batch index.</summary>
    public int Add(int token, int position, ReadOnlySpan<int> sequenceIds, bool outputLogits)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (Count == Capacity) throw new InvalidOperationException($"The batch is full ({Capacity} tokens).");
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        if (sequenceIds.IsEmpty || sequenceIds.Length > MaxSequencesPerToken)
            throw new ArgumentException($"A token needs 1 to {MaxSequencesPerToken} sequence ids, got {sequenceIds.Length}.", nameof(sequenceIds));
        foreach (var s in sequenceIds) ArgumentOutOfRangeException.ThrowIfNegative(s, nameof(sequenceIds));

        ref var b = ref _handle.Batch;
        var i = Count;
        b.Token[i] = token;
        b.Pos[i] = position;
        b.NSeqId[i] = sequenceIds.Length;
        for (var s = 0; s < sequenceIds.Length; s++) b.SeqId[i][s] = sequenceIds[s];
        b.Logits[i] = outputLogits ? (sbyte)1 : (sbyte)0;
        if (outputLogits) OutputCount++;
        Count = i + 1;
        return i;
    }

    /// <summary>Adds consecutive tokens of one sequence from startPosition; only the last asks for logits when lastLogits.</summary>
    public void AddRange(ReadOnlySpan<int> tokens, int startPosition, int sequenceId, bool lastLogits)
    {
        if (Count + tokens.Length > Capacity)
            throw new InvalidOperationException($"Adding {tokens.Length} tokens would exceed the batch capacity ({Capacity}, {Count} used).");
        for (var i = 0; i < tokens.Length; i++)
            Add(tokens[i], startPosition + i, sequenceId, lastLogits && i == tokens.Length - 1);
    }

    public void Clear()
    {
        Count = 0;
        OutputCount = 0;
    }

    public int GetToken(int index) => Read(index, ref _handle.Batch).Token[index];
    public int GetPosition(int index) => Read(index, ref _handle.Batch).Pos[index];
    public bool GetOutput(int index) => Read(index, ref _handle.Batch).Logits[index] != 0;

    public ReadOnlySpan<int> GetSequenceIds(int index)
    {
        ref var b = ref Read(index, ref _handle.Batch);
        return new ReadOnlySpan<int>(b.SeqId[index], b.NSeqId[index]);
    }

    private ref LlamaBatchNative Read(int index, ref LlamaBatchNative b)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"Batch has {Count} tokens.");
        return ref b;
    }

    internal SafeLlamaBatchHandle Handle => _handle;

    /// <summary>The native struct to pass by value; n_tokens set to the current count.</summary>
    internal LlamaBatchNative ToNative()
    {
        var copy = _handle.Batch;
        copy.NTokens = Count;
        return copy;
    }

    public void Dispose() => _handle.Dispose();
}
