namespace Serve.Llama.Native;

/// <summary>Owns a llama_model (llama_model_free).</summary>
internal sealed class SafeLlamaModelHandle : SafeLlamaHandle
{
    protected override void Free(nint pointer) => NativeApi.llama_model_free(pointer);
}
