using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct llama_perf_sampler_data.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaPerfSamplerData
{
    public double TSampleMs;
    public int NSample;
}
