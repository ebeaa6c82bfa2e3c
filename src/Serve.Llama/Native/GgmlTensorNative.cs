using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct ggml_tensor, field by field (336 bytes on x86-64; GGML_MAX_DIMS 4, GGML_MAX_SRC 10, GGML_MAX_NAME 64).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GgmlTensorNative
{
    public const int MaxDims = 4;
    public const int MaxSources = 10;
    public const int MaxName = 64;

    public GgmlType Type;
    public nint Buffer;                // ggml_backend_buffer*
    public fixed long Ne[MaxDims];     // elements per dimension
    public fixed ulong Nb[MaxDims];    // stride in bytes per dimension
    public int Op;                     // enum ggml_op
    public fixed int OpParams[16];     // GGML_MAX_OP_PARAMS / sizeof(int32_t)
    public int Flags;
    public fixed ulong Src[MaxSources]; // ggml_tensor*
    public GgmlTensorNative* ViewSrc;
    public nuint ViewOffs;
    public void* Data;
    public fixed byte Name[MaxName];
    public void* Extra;
    public fixed byte Padding[8];
}
