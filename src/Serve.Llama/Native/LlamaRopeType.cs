namespace Serve.Llama.Native;

/// <summary>The model's RoPE variant (enum llama_rope_type; values come from ggml's GGML_ROPE_TYPE_*).</summary>
public enum LlamaRopeType
{
    None = -1,
    Norm = 0,
    Neox = 2,
    MRope = 8,
    IMRope = 40,
    Vision = 24,
}
