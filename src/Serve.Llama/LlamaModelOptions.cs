using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>How a GGUF base model is loaded.</summary>
public sealed record LlamaModelOptions
{
    /// <summary>Layers to offload to the GPU; negative = all (llama.cpp's default). Ignored without a GPU backend.</summary>
    public int GpuLayers { get; init; } = -1;

    public LlamaSplitMode SplitMode { get; init; } = LlamaSplitMode.Layer;

    public int MainGpu { get; init; }

    /// <summary>Memory-map the file (load_mode MMAP) instead of reading it (NONE).</summary>
    public bool UseMmap { get; init; } = true;

    /// <summary>Lock the weights in RAM (load_mode MLOCK / MMAP_MLOCK).</summary>
    public bool UseMlock { get; init; }

    public bool VocabOnly { get; init; }

    /// <summary>Validate tensor data while loading (slower).</summary>
    public bool CheckTensors { get; init; }

    /// <summary>Receives load progress in [0, 1]. Called on the loading thread.</summary>
    public IProgress<float>? Progress { get; init; }

    internal LlamaLoadMode LoadMode => (UseMmap, UseMlock) switch
    {
        (true, true) => LlamaLoadMode.MmapMlock,
        (true, false) => LlamaLoadMode.Mmap,
        (false, true) => LlamaLoadMode.Mlock,
        _ => LlamaLoadMode.None,
    };
}
