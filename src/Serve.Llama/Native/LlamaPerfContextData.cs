using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct llama_perf_context_data (times in milliseconds).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaPerfContextData
{
    public double TStartMs;
    public double TLoadMs;
    public double TPEvalMs;
    public double TEvalMs;
    public int NPEval;
    public int NEval;
    public int NReused;
}
