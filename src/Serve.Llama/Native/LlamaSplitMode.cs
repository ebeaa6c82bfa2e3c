namespace Serve.Llama.Native;

/// <summary>How a model is split across GPUs (enum llama_split_mode).</summary>
public enum LlamaSplitMode
{
    None = 0,
    Layer = 1,
    Row = 2,
    Tensor = 3,
}
