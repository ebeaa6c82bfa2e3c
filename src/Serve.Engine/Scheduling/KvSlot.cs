namespace Serve.Engine.Scheduling;

/// <summary>
/// One llama.cpp sequence id and the tokens whose KV it holds (positions 0..Tokens.Count-1). An idle slot keeps
/// its KV, tagged with the adapter configuration it was computed with, so a later request of the same
/// configuration can reuse a shared prefix. Scheduler thread only.
/// </summary>
internal sealed class KvSlot(int sequenceId)
{
    public int SequenceId { get; } = sequenceId;
    public List<int> Tokens { get; } = [];
    public AdapterConfiguration? Configuration { get; set; }
    public Sequence? Owner { get; set; }
    public long LastUsed { get; set; }

    public int CommonPrefix(ReadOnlySpan<int> prompt)
    {
        var n = Math.Min(Tokens.Count, prompt.Length);
        var i = 0;
        while (i < n && Tokens[i] == prompt[i]) i++;
        return i;
    }
}
