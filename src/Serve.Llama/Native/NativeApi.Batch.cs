using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

internal static unsafe partial class NativeApi
{
    /// <summary>Allocates a batch of nTokens; embd == 0 allocates token ids; every token can carry nSeqMax sequence ids.</summary>
    [LibraryImport(Llama)]
    internal static partial LlamaBatchNative llama_batch_init(int nTokens, int embd, int nSeqMax);

    [LibraryImport(Llama)]
    internal static partial void llama_batch_free(LlamaBatchNative batch);
}
