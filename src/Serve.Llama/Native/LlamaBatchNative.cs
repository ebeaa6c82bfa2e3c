using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct llama_batch (56 bytes on x86-64). Arrays are sized by llama_batch_init's capacity.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LlamaBatchNative
{
    public int NTokens;
    public int* Token;
    public float* Embd;
    public int* Pos;
    public int* NSeqId;
    public int** SeqId;
    public sbyte* Logits;
}
