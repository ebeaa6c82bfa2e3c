namespace Serve.Llama.Native;

/// <summary>
/// Owns a llama_sampler (llama_sampler_free). A sampler added to a chain belongs to the chain: call
/// <see cref="TransferOwnership"/> after llama_sampler_chain_add so it is not freed twice.
/// A grammar sampler holds the model's vocab, so the chain depends on the model.
/// </summary>
internal sealed class SafeLlamaSamplerHandle : SafeLlamaHandle
{
    internal static SafeLlamaSamplerHandle FromPointer(nint pointer)
    {
        var h = new SafeLlamaSamplerHandle();
        h.Attach(pointer);
        return h;
    }

    internal nint TransferOwnership()
    {
        var pointer = handle;
        SetHandleAsInvalid();
        return pointer;
    }

    protected override void Free(nint pointer) => NativeApi.llama_sampler_free(pointer);
}
