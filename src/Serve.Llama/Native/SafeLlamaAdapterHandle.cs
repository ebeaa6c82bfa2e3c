namespace Serve.Llama.Native;

/// <summary>
/// Owns a llama_adapter_lora (llama_adapter_lora_free). An adapter is only valid while its model lives, so the
/// model is a dependency released after the adapter is freed. Freed under its model's
/// <see cref="LlamaModel.AdapterSetGate"/> (the free erases it from the model's adapter set).
/// </summary>
internal sealed class SafeLlamaAdapterHandle : SafeLlamaHandle
{
    /// <summary>The model's AdapterSetGate, set before the pointer is attached.</summary>
    internal object? Gate { get; set; }

    protected override void Free(nint pointer)
    {
        lock (Gate ?? throw new InvalidOperationException("An adapter handle was attached without its model's gate."))
            NativeApi.llama_adapter_lora_free(pointer);
    }
}
