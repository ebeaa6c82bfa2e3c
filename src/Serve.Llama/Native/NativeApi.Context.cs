using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(Llama)]
    internal static partial LlamaContextParams llama_context_default_params();

    [LibraryImport(Llama)]
    internal static partial nint llama_init_from_model(nint model, LlamaContextParams parameters);

    [LibraryImport(Llama)]
    internal static partial void llama_free(nint context);

    [LibraryImport(Llama)]
    internal static partial uint llama_n_ctx(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    internal static partial uint llama_n_ctx_seq(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    internal static partial uint llama_n_batch(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    internal static partial uint llama_n_ubatch(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    internal static partial uint llama_n_seq_max(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    internal static partial LlamaPoolingType llama_pooling_type(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    internal static partial int llama_decode(SafeLlamaContextHandle context, LlamaBatchNative batch);

    [LibraryImport(Llama)]
    internal static partial void llama_set_n_threads(SafeLlamaContextHandle context, int nThreads, int nThreadsBatch);

    [LibraryImport(Llama)]
    internal static partial int llama_n_threads(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    internal static partial int llama_n_threads_batch(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    internal static partial void llama_synchronize(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    internal static partial float* llama_get_logits_ith(SafeLlamaContextHandle context, int i);

    [LibraryImport(Llama)]
    internal static partial float* llama_get_embeddings_ith(SafeLlamaContextHandle context, int i);

    [LibraryImport(Llama)]
    internal static partial float* llama_get_embeddings_seq(SafeLlamaContextHandle context, int seqId);

    [LibraryImport(Llama)]
    internal static partial LlamaPerfContextData llama_perf_context(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    internal static partial void llama_perf_context_reset(SafeLlamaContextHandle context);
}
