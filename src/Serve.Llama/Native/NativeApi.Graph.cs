using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(GgmlBase)]
    internal static partial byte* ggml_op_name(int op);

    [LibraryImport(GgmlBase)]
    internal static partial byte* ggml_get_name(GgmlTensorNative* tensor);

    [LibraryImport(GgmlBase)]
    internal static partial nuint ggml_nbytes(GgmlTensorNative* tensor);

    [LibraryImport(GgmlBase)]
    internal static partial long ggml_nelements(GgmlTensorNative* tensor);

    [LibraryImport(GgmlBase)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool ggml_is_contiguous(GgmlTensorNative* tensor);

    [LibraryImport(GgmlBase)]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool ggml_backend_buffer_is_host(nint buffer);

    [LibraryImport(GgmlBase)]
    internal static partial void ggml_backend_tensor_get(GgmlTensorNative* tensor, void* data, nuint offset, nuint size);

    [LibraryImport(GgmlBase)]
    internal static partial void ggml_backend_tensor_set(GgmlTensorNative* tensor, void* data, nuint offset, nuint size);
}
