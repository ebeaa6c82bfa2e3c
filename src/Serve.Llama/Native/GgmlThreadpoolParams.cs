using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct ggml_threadpool_params (GGML_MAX_N_THREADS = 512), filled by ggml_threadpool_params_init.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GgmlThreadpoolParams
{
    public fixed byte CpuMask[512];
    public int NThreads;
    public int Priority;     // enum ggml_sched_priority
    public uint Poll;        // 0 = no polling, 100 = aggressive
    public byte StrictCpu;
    public byte Paused;
}
