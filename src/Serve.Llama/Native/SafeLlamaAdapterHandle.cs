namespace Serve.Llama.Native;

/// <summary>
/// Owns a llama_adapter_lora (llama_adapter_lora_free). An adapter is only valid while its model lives, so the
/// model is a dependency released after the adapter is freed.
/// </summary>
internal sealed class SafeLlamaAdapterHandle : SafeLlamaHandle
{
    protected override void Free(nint pointer) => NativeApi.llama_adapter_lora_free(pointer);
}
