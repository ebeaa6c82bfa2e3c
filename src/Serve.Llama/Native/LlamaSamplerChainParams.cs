using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct llama_sampler_chain_params (one C bool).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaSamplerChainParams
{
    public NativeBool NoPerf;
}
