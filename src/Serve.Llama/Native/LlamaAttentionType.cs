namespace Serve.Llama.Native;

/// <summary>Attention used for embeddings (enum llama_attention_type).</summary>
public enum LlamaAttentionType
{
    Unspecified = -1,
    Causal = 0,
    NonCausal = 1,
}
