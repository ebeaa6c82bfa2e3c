using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>
/// A persistent ggml CPU threadpool. Without one, every ggml graph computation starts and joins its own worker
/// threads; a context whose graph observer splits each decode into dozens of computations pays that each time.
/// ggml_threadpool_new lives in the CPU backend variant ggml loaded at run time (libggml-cpu-&lt;cpu&gt;.so), which
/// is found through one of the functions its registry hands out.
/// </summary>
internal static unsafe class CpuThreadpool
{
    private static readonly Lazy<(nint New, nint Free, nint Pause)> Functions = new(Resolve);

    public static bool IsAvailable => Functions.Value.New != 0 && Functions.Value.Free != 0 && Functions.Value.Pause != 0;

    /// <summary>Creates a pool of the given threads, or returns 0 when this ggml offers none.</summary>
    public static nint Create(int threads, int? poll)
    {
        if (!IsAvailable) return 0;
        GgmlThreadpoolParams p;
        NativeApi.ggml_threadpool_params_init(&p, threads);
        if (poll is { } level) p.Poll = (uint)level;
        return ((delegate* unmanaged[Cdecl]<GgmlThreadpoolParams*, nint>)Functions.Value.New)(&p);
    }

    public static void Free(nint pool)
    {
        if (pool != 0) ((delegate* unmanaged[Cdecl]<nint, void>)Functions.Value.Free)(pool);
    }

    /// <summary>Puts the workers to sleep until the next computation (which resumes them itself).</summary>
    public static void Pause(nint pool)
    {
        if (pool != 0) ((delegate* unmanaged[Cdecl]<nint, void>)Functions.Value.Pause)(pool);
    }

    private static (nint, nint, nint) Resolve()
    {
        if (!OperatingSystem.IsLinux()) return (0, 0, 0);
        try
        {
            var reg = NativeApi.ggml_backend_reg_by_name("CPU");
            if (reg == 0) return (0, 0, 0);
            var probe = NativeApi.ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
            if (probe == 0) return (0, 0, 0);
            NativeApi.DlInfo info;
            if (NativeApi.dladdr(probe, &info) == 0 || info.FileName == 0) return (0, 0, 0);
            var library = NativeLibrary.Load(Marshal.PtrToStringUTF8(info.FileName)!); // already loaded: same handle
            return NativeLibrary.TryGetExport(library, "ggml_threadpool_new", out var create) && NativeLibrary.TryGetExport(library, "ggml_threadpool_free", out var free)
                && NativeLibrary.TryGetExport(library, "ggml_threadpool_pause", out var pause)
                ? (create, free, pause)
                : (0, 0, 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return (0, 0, 0);
        }
    }
}
