namespace Serve.Llama.Native.Load;

/// <summary>Where the llama.cpp shared libraries are read from.</summary>
public sealed record LlamaLibraryOptions
{
    /// <summary>
    /// Directory holding libllama.v0.5.0.so, libggml.v0.5.0.so, libggml-base.so and the ggml backends
    /// (for example the CUDA build's bins/linux-x64-cuda). Null = search (see <see cref="LlamaLibrary"/>).
    /// </summary>
    public string? Directory { get; init; }
}
