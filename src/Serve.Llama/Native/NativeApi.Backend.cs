using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(Llama)]
    internal static partial void llama_backend_init();

    [LibraryImport(Llama)]
    internal static partial void llama_backend_free();

    [LibraryImport(Llama)]
    internal static partial void llama_numa_init(GgmlNumaStrategy numa);

    [LibraryImport(Llama)]
    internal static partial byte* llama_print_system_info();

    [LibraryImport(Llama)]
    internal static partial byte* llama_version();

    [LibraryImport(Llama)]
    internal static partial long llama_time_us();

    [LibraryImport(Llama)]
    internal static partial nuint llama_max_devices();

    [LibraryImport(Llama)]
    internal static partial nuint llama_max_parallel_sequences();

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_supports_mmap();

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_supports_mlock();

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_supports_gpu_offload();

    [LibraryImport(Ggml, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void ggml_backend_load_all_from_path(string dirPath);

    [LibraryImport(Ggml)]
    internal static partial nuint ggml_backend_dev_count();

    [LibraryImport(Ggml)]
    internal static partial nint ggml_backend_dev_get(nuint index);

    [LibraryImport(GgmlBase)]
    internal static partial byte* ggml_backend_dev_name(nint device);

    [LibraryImport(GgmlBase)]
    internal static partial byte* ggml_backend_dev_description(nint device);

    [LibraryImport(GgmlBase)]
    internal static partial GgmlBackendDeviceType ggml_backend_dev_type(nint device);

    [LibraryImport(GgmlBase)]
    internal static partial void ggml_backend_dev_memory(nint device, nuint* free, nuint* total);
}
