using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct llama_logit_bias: a bias added to one token's logit.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LlamaLogitBias
{
    public int Token;
    public float Bias;
}
