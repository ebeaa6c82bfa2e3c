namespace Serve.Llama.Native;

/// <summary>On-demand reading of tensors marked by the architecture (enum llama_lazy_mode).</summary>
public enum LlamaLazyMode
{
    Off = 0,
    Auto = 1,
    On = 2,
}
