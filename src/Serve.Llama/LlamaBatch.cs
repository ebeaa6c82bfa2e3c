using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>
/// Tokens to decode in one llama_decode call, each with its position, the sequences it belongs to, and whether
/// its logits are wanted, and, for a context with a <see cref="LlamaAdapterPool"/>, the adapter slots it runs with.
/// Owns native memory (llama_batch_init); reuse it with <see cref="Clear"/>. Not thread-safe.
/// </summary>
public sealed unsafe class LlamaBatch : IDisposable
{
    private readonly SafeLlamaBatchHandle _handle;
    private readonly int[] _slots;
    private readonly float[] _scales;
    private bool _anyAdapter;

    /// <param name="capacity">The most tokens.</param>
    /// <param name="maxSequencesPerToken">The most sequences one token belongs to.</param>
    /// <param name="adaptersPerToken">The most adapter-pool slots one token uses (0: the batch names none).</param>
    public LlamaBatch(int capacity, int maxSequencesPerToken = 1, int adaptersPerToken = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSequencesPerToken, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(adaptersPerToken);
        LlamaBackend.Initialize();
        Capacity = capacity;
        MaxSequencesPerToken = maxSequencesPerToken;
        AdaptersPerToken = adaptersPerToken;
        _slots = new int[capacity * adaptersPerToken];
        _scales = new float[capacity * adaptersPerToken];
        _handle = SafeLlamaBatchHandle.Allocate(capacity, maxSequencesPerToken);
    }

    public int Capacity { get; }
    public int MaxSequencesPerToken { get; }
    public int AdaptersPerToken { get; }
    public int Count { get; private set; }

    /// <summary>Whether some token of the batch uses an adapter slot with a non-zero scale.</summary>
    public bool UsesAdapters => _anyAdapter;

    /// <summary>Adds a token for one sequence that runs with these adapter-pool slots (at most AdaptersPerToken).</summary>
    public int Add(int token, int position, int sequenceId, bool outputLogits, ReadOnlySpan<LlamaAdapterSlot> adapters)
    {
        CheckAdapters(adapters);
        var i = Add(token, position, [sequenceId], outputLogits);
        SetAdapters(i, adapters);
        return i;
    }

    /// <summary>As AddRange, every token running with these adapter-pool slots.</summary>
    public void AddRange(ReadOnlySpan<int> tokens, int startPosition, int sequenceId, bool lastLogits, ReadOnlySpan<LlamaAdapterSlot> adapters)
    {
        CheckAdapters(adapters);
        var first = Count;
        AddRange(tokens, startPosition, sequenceId, lastLogits);
        for (var i = first; i < Count; i++) SetAdapters(i, adapters);
    }

    private void CheckAdapters(ReadOnlySpan<LlamaAdapterSlot> adapters)
    {
        if (adapters.Length > AdaptersPerToken)
            throw new ArgumentException($"A token of this batch uses at most {AdaptersPerToken} adapter slots, got {adapters.Length}.", nameof(adapters));
        foreach (var a in adapters)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(a.Slot, nameof(adapters));
            if (!float.IsFinite(a.Scale)) throw new ArgumentException($"Adapter scale {a.Scale} is not finite.", nameof(adapters));
        }
    }

    private void SetAdapters(int index, ReadOnlySpan<LlamaAdapterSlot> adapters)
    {
        var row = index * AdaptersPerToken;
        for (var j = 0; j < AdaptersPerToken; j++)
        {
            var used = j < adapters.Length;
            _slots[row + j] = used ? adapters[j].Slot : -1;
            _scales[row + j] = used ? adapters[j].Scale : 0f;
            _anyAdapter |= used && adapters[j].Scale != 0f;
        }
    }

    /// <summary>The slots and scales of the first Count tokens, AdaptersPerToken each (for llama_lora_pool_set_tokens).</summary>
    internal (int[] Slots, float[] Scales) AdapterSlots => (_slots, _scales);

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
        for (var j = 0; j < AdaptersPerToken; j++)
        {
            _slots[i * AdaptersPerToken + j] = -1; // the base model unless SetAdapters follows
            _scales[i * AdaptersPerToken + j] = 0f;
        }
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
        _anyAdapter = false;
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
