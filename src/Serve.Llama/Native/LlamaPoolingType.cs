namespace Serve.Llama.Native;

/// <summary>Embedding pooling (enum llama_pooling_type).</summary>
public enum LlamaPoolingType
{
    Unspecified = -1,
    None = 0,
    Mean = 1,
    Cls = 2,
    Last = 3,
    Rank = 4,
}
