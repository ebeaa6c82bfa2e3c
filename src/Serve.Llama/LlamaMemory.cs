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

    /// <summary>Makes dst share src's cells in [p0, p1) (no copy of data: prefix sharing).</summary>
    public void SeqCopy(int src, int dst, int p0 = -1, int p1 = -1)
    {
        CheckSeq(src);
        CheckSeq(dst);
        using var lease = Lease(out var memory);
        NativeApi.llama_memory_seq_cp(memory, src, dst, p0, p1);
    }

    /// <summary>Removes every sequence but seq.</summary>
    public void SeqKeep(int seq)
    {
        CheckSeq(seq);
        using var lease = Lease(out var memory);
        NativeApi.llama_memory_seq_keep(memory, seq);
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

    private void CheckSeq(int seq)
    {
        if ((uint)seq >= (uint)_context.SeqMax)
            throw new ArgumentOutOfRangeException(nameof(seq), seq, $"Sequence id must be in [0, {_context.SeqMax}).");
    }
}
