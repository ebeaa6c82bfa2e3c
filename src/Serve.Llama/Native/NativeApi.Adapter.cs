using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint llama_adapter_lora_init(nint model, string pathLora);

    [LibraryImport(Llama)]
    internal static partial void llama_adapter_lora_free(nint adapter);

    [LibraryImport(Llama)]
    internal static partial int llama_adapter_meta_count(SafeLlamaAdapterHandle adapter);

    [LibraryImport(Llama)]
    internal static partial int llama_adapter_meta_key_by_index(SafeLlamaAdapterHandle adapter, int i, byte* buf, nuint bufSize);

    [LibraryImport(Llama)]
    internal static partial int llama_adapter_meta_val_str_by_index(SafeLlamaAdapterHandle adapter, int i, byte* buf, nuint bufSize);

    [LibraryImport(Llama)]
    internal static partial ulong llama_adapter_get_alora_n_invocation_tokens(SafeLlamaAdapterHandle adapter);

    [LibraryImport(Llama)]
    internal static partial int* llama_adapter_get_alora_invocation_tokens(SafeLlamaAdapterHandle adapter);

    /// <summary>Replaces the context's adapter set; adapters with scale 0 are skipped; n == 0 clears.</summary>
    [LibraryImport(Llama)]
    internal static partial int llama_set_adapters_lora(SafeLlamaContextHandle context, nint* adapters, nuint nAdapters, float* scales);
}
