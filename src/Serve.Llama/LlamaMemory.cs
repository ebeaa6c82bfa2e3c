using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>
/// The context's KV cache, per sequence. Positions are half-open [p0, p1); a negative bound means open-ended.
/// Sequence ids are checked against n_seq_max because llama.cpp asserts (ends the process) on bad ids.
/// </summary>
public sealed class LlamaMemory
{
    private readonly LlamaContext _context;

    internal LlamaMemory(LlamaContext context) => _context = context;

    /// <summary>Drops everything; data also zeroes the buffers.</summary>
    public void Clear(bool data = true)
    {
        using var lease = Lease(out var memory);
        NativeApi.llama_memory_clear(memory, data);
        _context.ForgetOutputs();
    }

    /// <summary>Removes a sequence's tokens in [p0, p1); seq -1 = every sequence. False when a partial removal is impossible.</summary>
    public bool SeqRemove(int seq, int p0 = -1, int p1 = -1)
    {
        if (seq != -1) CheckSeq(seq);
        using var lease = Lease(out var memory);
        return NativeApi.llama_memory_seq_rm(memory, seq, p0, p1);
    }

    /// <summary>
    /// Gives dst src's cells in [p0, p1). With a unified KV cache the cells are shared (prefix sharing, no copy) and
    /// dst keeps what it had. Without one each sequence has its own stream and llama.cpp copies whole streams only
    /// (it asserts on a partial range): dst's stream is replaced by a copy of src's (the data moves at the next
    /// decode, in the order the copies were asked for), then the positions outside [p0, p1) are removed from dst.
    /// </summary>
    public void SeqCopy(int src, int dst, int p0 = -1, int p1 = -1)
    {
        CheckSeq(src);
        CheckSeq(dst);
        using var lease = Lease(out var memory);
        if (src == dst || _context.KvUnified || _context.SeqMax == 1 || !IsPartial(p0, p1, _context.ContextSizePerSequence))
        {
            NativeApi.llama_memory_seq_cp(memory, src, dst, p0, p1);
            return;
        }
        NativeApi.llama_memory_seq_cp(memory, src, dst, -1, -1);
        if (p0 > 0) NativeApi.llama_memory_seq_rm(memory, dst, 0, p0);
        if (p1 >= 0) NativeApi.llama_memory_seq_rm(memory, dst, p1, -1);
    }

    /// <summary>Removes every sequence but seq.</summary>
    public void SeqKeep(int seq)
    {
        CheckSeq(seq);
        using var lease = Lease(out var memory);
        NativeApi.llama_memory_seq_keep(memory, seq);
        // Without a unified KV cache llama.cpp only cleans seq's own stream; the other streams are cleared here.
        if (_context.KvUnified) return;
        for (var other = 0; other < _context.SeqMax; other++)
        {
            if (other != seq) NativeApi.llama_memory_seq_rm(memory, other, -1, -1);
        }
    }

    /// <summary>Shifts positions in [p0, p1) by delta (context shifting). Throws when the memory cannot shift.</summary>
    public void SeqAdd(int seq, int p0, int p1, int delta)
    {
        CheckSeq(seq);
        using var lease = Lease(out var memory);
        if (!NativeApi.llama_memory_can_shift(memory)) throw new NotSupportedException("This model's memory does not support position shifts.");
        NativeApi.llama_memory_seq_add(memory, seq, p0, p1, delta);
    }

    /// <summary>Smallest position held for seq, or -1 when empty.</summary>
    public int SeqPosMin(int seq)
    {
        CheckSeq(seq);
        using var lease = Lease(out var memory);
        return NativeApi.llama_memory_seq_pos_min(memory, seq);
    }

    /// <summary>Largest position held for seq, or -1 when empty.</summary>
    public int SeqPosMax(int seq)
    {
        CheckSeq(seq);
        using var lease = Lease(out var memory);
        return NativeApi.llama_memory_seq_pos_max(memory, seq);
    }

    public bool CanShift
    {
        get
        {
            using var lease = Lease(out var memory);
            return NativeApi.llama_memory_can_shift(memory);
        }
    }

    private SafeHandleLease Lease(out nint memory)
    {
        var lease = new SafeHandleLease(_context.Handle);
        memory = NativeApi.llama_get_memory(_context.Handle);
        if (memory == nint.Zero)
        {
            lease.Dispose();
            throw new NotSupportedException("This context has no memory (encoder-only model).");
        }
        return lease;
    }

    // Mirrors llama_kv_cache::seq_cp's check for cross-stream copies.
    private static bool IsPartial(int p0, int p1, int size) =>
        (p0 > 0 && p0 + 1 < size) || (p1 > 0 && p1 + 1 < size);

    private void CheckSeq(int seq)
    {
        if ((uint)seq >= (uint)_context.SeqMax)
            throw new ArgumentOutOfRangeException(nameof(seq), seq, $"Sequence id must be in [0, {_context.SeqMax}).");
    }
}
