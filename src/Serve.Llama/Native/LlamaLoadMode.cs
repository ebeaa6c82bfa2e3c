namespace Serve.Llama.Native;

/// <summary>How model weights are read (enum llama_load_mode); replaces the old use_mmap/use_mlock flags.</summary>
public enum LlamaLoadMode
{
    Auto = -1,
    None = 0,
    Mmap = 1,
    Mlock = 2,
    MmapMlock = 3,
    DirectIo = 4,
}
