using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>
/// Per-token LoRA on one context (the adapter pool of native/patches): <see cref="Slots"/> slots, each holding one
/// adapter's factors (ranks up to <see cref="MaxRank"/>, zero padded) in the backend of the weights it changes (GPU
/// memory when layers are offloaded). Each token of a <see cref="LlamaBatch"/> names up to
/// <see cref="AdaptersPerToken"/> slots with scales; one Decode then computes every token with its own adapters.
/// Filling a slot or changing which slots tokens use never changes the graph's shape, so llama.cpp never
/// re-reserves it for that; only the first adapter that changes a given base weight does (once per weight).
/// </summary>
public sealed class LlamaAdapterPool
{
    private readonly LlamaContext _context;

    internal LlamaAdapterPool(LlamaContext context, int slots, int maxRank, int adaptersPerToken, GgmlType type, int expertRows)
    {
        _context = context;
        Slots = slots;
        MaxRank = maxRank;
        AdaptersPerToken = adaptersPerToken;
        Type = type;
        ExpertRows = expertRows;
    }

    public int Slots { get; }
    public int MaxRank { get; }
    public int AdaptersPerToken { get; }

    /// <summary>The rows of one mul_mat_id expert (weights in GPU memory): ExpertRows / MaxRank slots share one.</summary>
    public int ExpertRows { get; }

    /// <summary>The type of the stacked factors (F32, F16 or Q8_0).</summary>
    public GgmlType Type { get; }

    /// <summary>
    /// Whether factors of this type in host memory (the CPU) take the pool's gathered form, one op per product that
    /// reads only each token's own slots, rather than mul_mat_id: F32 always, F16 on x86-64 with AVX2, FMA and F16C.
    /// </summary>
    public static bool HostGathers(GgmlType type)
    {
        LlamaBackend.Initialize();
        return NativeApi.llama_lora_pool_host_gathered(type);
    }

    /// <summary>How many base weights have stacked factors.</summary>
    public int TargetCount
    {
        get
        {
            ObjectDisposedException.ThrowIf(_context.Handle.IsClosed, _context);
            return NativeApi.llama_lora_pool_n_targets(_context.Handle);
        }
    }

    /// <summary>
    /// Makes room for every base weight the adapter changes; returns how many were new (each new one makes the next
    /// Decode re-reserve the graph once). Call it on the thread that decodes, before <see cref="SetSlot"/> with this
    /// adapter. Throws LlamaException when the adapter cannot live in the pool (rank above MaxRank, a weight that is
    /// not a 2D product such as token_embd).
    /// </summary>
    public int AddTargets(LlamaLoraAdapter adapter)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        CheckAdapter(adapter);
        var capture = LlamaLogging.BeginCapture();
        var added = NativeApi.llama_lora_pool_add_targets(_context.Handle, adapter.Live);
        if (added < 0) throw LlamaException.FromNative($"The adapter '{adapter.Path}' cannot be placed in the adapter pool", capture.Errors);
        if (added > 0) _context.ReservePending = true; // the next decode re-reserves the graph
        return added;
    }

    /// <summary>
    /// Copies the adapter's factors into the slot (null clears it); the adapter may be disposed afterwards. Safe on
    /// another thread than the decoding one while no Decode in flight uses this slot.
    /// </summary>
    public void SetSlot(int slot, LlamaLoraAdapter? adapter)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, Slots);
        if (adapter is not null) CheckAdapter(adapter);
        using var contextLease = new SafeHandleLease(_context.Handle);
        using var adapterLease = adapter is null ? default : new SafeHandleLease(adapter.Live);
        var capture = LlamaLogging.BeginCapture();
        var rc = NativeApi.llama_lora_pool_set_slot(_context.Handle, slot, adapter is null ? nint.Zero : adapter.Handle.DangerousGetHandle());
        if (rc != 0)
            throw LlamaException.FromNative(adapter is null ? $"Clearing adapter slot {slot} failed" : $"Copying '{adapter.Path}' into adapter slot {slot} failed (call AddTargets first)", capture.Errors);
    }

    private void CheckAdapter(LlamaLoraAdapter adapter)
    {
        ObjectDisposedException.ThrowIf(_context.Handle.IsClosed, _context);
        ObjectDisposedException.ThrowIf(adapter.IsDisposed, adapter);
        if (!ReferenceEquals(adapter.Model.Handle, _context.Model.Handle))
            throw new ArgumentException($"Adapter '{adapter.Path}' was loaded for a different model.", nameof(adapter));
    }
}
