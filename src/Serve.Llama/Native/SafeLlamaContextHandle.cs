using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>
/// Owns a llama_context (llama_free). Keeps its model alive, and keeps alive every adapter currently set on it:
/// the context stores raw adapter pointers, so freeing one of them while set would leave it dangling.
/// </summary>
internal sealed class SafeLlamaContextHandle : SafeLlamaHandle
{
    private readonly object _adapterLock = new();
    private SafeHandle[] _adapters = [];

    /// <summary>State the native abort callback reads; freed only after llama_free, when no callback can run.</summary>
    internal GCHandle CallbackState { get; set; }

    /// <summary>The ggml threadpool attached to the context (0: none); freed after llama_free.</summary>
    internal nint Threadpool { get; set; }

    /// <summary>Swaps the adapter references held for the context; call after llama_set_adapters_lora succeeded.</summary>
    internal void ReplaceAdapterReferences(SafeHandle[] referenced)
    {
        SafeHandle[] old;
        lock (_adapterLock)
        {
            old = _adapters;
            _adapters = referenced;
        }
        foreach (var adapter in old) adapter.DangerousRelease();
    }

    protected override void Free(nint pointer)
    {
        NativeApi.llama_free(pointer);
        CpuThreadpool.Free(Threadpool);
        Threadpool = 0;
        if (CallbackState.IsAllocated) CallbackState.Free();
        ReplaceAdapterReferences([]);
    }
}
