namespace Serve.Llama.Native;

/// <summary>RoPE scaling (enum llama_rope_scaling_type).</summary>
public enum LlamaRopeScalingType
{
    Unspecified = -1,
    None = 0,
    Linear = 1,
    Yarn = 2,
    LongRope = 3,
}
