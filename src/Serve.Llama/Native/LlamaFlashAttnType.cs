namespace Serve.Llama.Native;

/// <summary>When llama.cpp uses Flash Attention (enum llama_flash_attn_type).</summary>
public enum LlamaFlashAttnType
{
    Auto = -1,
    Disabled = 0,
    Enabled = 1,
}
