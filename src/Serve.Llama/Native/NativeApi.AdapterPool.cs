using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>The adapter pool added by native/patches (per-token LoRA): see llama_lora_pool_* in llama.h.</summary>
internal static unsafe partial class NativeApi
{
    [LibraryImport(Llama)]
    internal static partial int llama_lora_pool_init(SafeLlamaContextHandle context, int nSlots, int maxRank, int nPerToken, GgmlType type,
        int expertRows, [MarshalAs(UnmanagedType.U1)] bool hostGathered);

    [LibraryImport(Llama)]
    internal static partial int llama_lora_pool_add_targets(SafeLlamaContextHandle context, SafeLlamaAdapterHandle adapter);

    /// <summary>adapter may be 0 (clears the slot).</summary>
    [LibraryImport(Llama)]
    internal static partial int llama_lora_pool_set_slot(SafeLlamaContextHandle context, int slot, nint adapter);

    [LibraryImport(Llama)]
    internal static partial int llama_lora_pool_set_tokens(SafeLlamaContextHandle context, int nTokens, int nPerToken, int* slots, float* scales);

    [LibraryImport(Llama)]
    internal static partial int llama_lora_pool_n_targets(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool llama_lora_pool_host_gathered(GgmlType type);
}
