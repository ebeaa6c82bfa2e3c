using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct llama_token_data_array: the candidate list samplers rewrite in place.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LlamaTokenDataArray
{
    public LlamaTokenData* Data;
    public nuint Size;
    public long Selected;
    public NativeBool Sorted;
}
