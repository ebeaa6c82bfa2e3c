using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(GgmlBase)]
    internal static partial void ggml_threadpool_params_init(GgmlThreadpoolParams* parameters, int threads);

    [LibraryImport(Ggml, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint ggml_backend_reg_by_name(string name);

    [LibraryImport(GgmlBase, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint ggml_backend_reg_get_proc_address(nint reg, string name);

    [LibraryImport(Llama)]
    internal static partial void llama_attach_threadpool(SafeLlamaContextHandle context, nint threadpool, nint threadpoolBatch);

    [StructLayout(LayoutKind.Sequential)]
    internal struct DlInfo
    {
        public nint FileName;
        public nint BaseAddress;
        public nint SymbolName;
        public nint SymbolAddress;
    }

    [LibraryImport("libc", EntryPoint = "dladdr")]
    internal static partial int dladdr(nint address, DlInfo* info);
}
