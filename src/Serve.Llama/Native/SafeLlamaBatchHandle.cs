namespace Serve.Llama.Native;

/// <summary>
/// Owns the arrays of a llama_batch made by llama_batch_init (freed with llama_batch_free). The handle value is
/// the token array, which is never null for a token batch.
/// </summary>
internal sealed unsafe class SafeLlamaBatchHandle : SafeLlamaHandle
{
    private LlamaBatchNative _batch;

    internal static SafeLlamaBatchHandle Allocate(int capacity, int maxSequencesPerToken)
    {
        var h = new SafeLlamaBatchHandle();
        var batch = NativeApi.llama_batch_init(capacity, 0, maxSequencesPerToken);
        if (batch.Token == null) throw new OutOfMemoryException($"llama_batch_init({capacity}) failed.");
        h._batch = batch;
        h.Attach((nint)batch.Token);
        return h;
    }

    /// <summary>The native batch; only valid while a lease on this handle is held.</summary>
    internal ref LlamaBatchNative Batch => ref _batch;

    protected override void Free(nint pointer)
    {
        NativeApi.llama_batch_free(_batch);
        _batch = default;
    }
}
