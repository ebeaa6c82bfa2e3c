namespace Serve.Llama.Native;

/// <summary>NUMA placement (enum ggml_numa_strategy).</summary>
public enum GgmlNumaStrategy
{
    Disabled = 0,
    Distribute = 1,
    Isolate = 2,
    Numactl = 3,
    Mirror = 4,
}
