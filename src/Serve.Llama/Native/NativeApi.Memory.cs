using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>llama_memory_t functions; the memory pointer belongs to its context (llama_get_memory).</summary>
internal static unsafe partial class NativeApi
{
    [LibraryImport(Llama)]
    internal static partial nint llama_get_memory(SafeLlamaContextHandle context);

    [LibraryImport(Llama)]
    internal static partial void llama_memory_clear(nint memory, NativeBool data);

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_memory_seq_rm(nint memory, int seqId, int p0, int p1);

    [LibraryImport(Llama)]
    internal static partial void llama_memory_seq_cp(nint memory, int seqIdSrc, int seqIdDst, int p0, int p1);

    [LibraryImport(Llama)]
    internal static partial void llama_memory_seq_keep(nint memory, int seqId);

    [LibraryImport(Llama)]
    internal static partial void llama_memory_seq_add(nint memory, int seqId, int p0, int p1, int delta);

    [LibraryImport(Llama)]
    internal static partial void llama_memory_seq_div(nint memory, int seqId, int p0, int p1, int d);

    [LibraryImport(Llama)]
    internal static partial int llama_memory_seq_pos_min(nint memory, int seqId);

    [LibraryImport(Llama)]
    internal static partial int llama_memory_seq_pos_max(nint memory, int seqId);

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_memory_can_shift(nint memory);
}
