using Serve.Llama;

namespace Serve.Engine.Scheduling;

/// <summary>
/// One step's batch as the policy decided it: a token for each decoding sequence, then prompt chunks. Outputs name
/// the batch rows whose logits are sampled (Commit adds follower choices that sample from their leader's row).
/// </summary>
internal sealed class StepPlan
{
    public List<Sequence> Decoding { get; } = [];
    public List<(Sequence Sequence, int Count)> Chunks { get; } = [];
    public List<(Sequence Sequence, int Index)> Outputs { get; } = [];

    /// <summary>Every sequence with a token in the batch, decoding ones first.</summary>
    public List<Sequence> Members { get; } = [];

    /// <summary>Tokens in the batch (rows).</summary>
    public int Tokens { get; set; }

    public bool IsEmpty => Tokens == 0;
}

internal enum DecodeOutcome
{
    Ok,
    /// <summary>The KV cache has no room for the batch; the policy may evict an idle slot and the step retries.</summary>
    KvFull,
}

/// <summary>
/// What the scheduler loop needs from the model: decode a plan's batch and move KV between sequence ids. Other
/// failures throw (LlamaException). The real one is <see cref="LlamaBatchDecoder"/>; policy tests use a fake.
/// </summary>
internal interface IBatchDecoder
{
    DecodeOutcome Decode(StepPlan plan);

    /// <summary>Removes positions [p0, p1) of a sequence (-1: from the start, to the end).</summary>
    void Remove(int sequenceId, int p0 = -1, int p1 = -1);

    /// <summary>Shares positions [p0, p1) of src with dst.</summary>
    void Copy(int source, int target, int p0, int p1);
}

/// <summary>Decodes plans with llama.cpp: fills one llama_batch, each token with its sequence's adapter slots.</summary>
internal sealed class LlamaBatchDecoder(LlamaContext context, int adaptersPerToken) : IBatchDecoder, IDisposable
{
    private readonly LlamaBatch _batch = new(context.BatchSize, adaptersPerToken: adaptersPerToken);

    public DecodeOutcome Decode(StepPlan plan)
    {
        _batch.Clear();
        foreach (var s in plan.Decoding) _batch.Add(s.NextToken, s.Slot!.Tokens.Count, s.Slot.SequenceId, true, s.Lease!.Slots);
        foreach (var (s, n) in plan.Chunks)
        {
            var last = s.PromptCursor + n == s.Prompt.Length;
            _batch.AddRange(s.Prompt.AsSpan(s.PromptCursor, n), s.PromptCursor, s.Slot!.SequenceId, last, s.Lease!.Slots);
        }
        try
        {
            context.Decode(_batch);
            return DecodeOutcome.Ok;
        }
        catch (LlamaDecodeException e) when (e.IsNoKvSlot)
        {
            return DecodeOutcome.KvFull;
        }
    }

    public void Remove(int sequenceId, int p0 = -1, int p1 = -1) => context.Memory.SeqRemove(sequenceId, p0, p1);

    public void Copy(int source, int target, int p0, int p1) => context.Memory.SeqCopy(source, target, p0, p1);

    public void Dispose() => _batch.Dispose();
}
