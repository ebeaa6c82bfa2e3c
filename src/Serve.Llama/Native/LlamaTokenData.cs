using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct llama_token_data: a candidate token with its logit and probability.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaTokenData
{
    public int Id;
    public float Logit;
    public float P;
}
