using Serve.Llama.Native;
using Serve.Llama.Native.Load;

namespace Serve.Llama;

/// <summary>
/// Process-wide llama.cpp start-up: resolve the libraries, route logs, load the ggml backends (the CPU variants are
/// separate libraries picked at run time), then llama_backend_init. Idempotent and thread-safe; every wrapper
/// calls it, so calling it explicitly is only needed to choose NUMA.
/// </summary>
public static class LlamaBackend
{
    private static readonly object Gate = new();
    private static volatile bool _initialized;

    public static void Initialize(GgmlNumaStrategy numa = GgmlNumaStrategy.Disabled)
    {
        if (_initialized) return;
        lock (Gate)
        {
            if (_initialized) return;
            var directory = LlamaLibrary.Directory;
            LlamaLogging.Install();
            // Before llama_backend_init: it falls back to ggml_backend_load_all (default search paths) when no
            // backend is registered yet.
            NativeApi.ggml_backend_load_all_from_path(directory);
            if (NativeApi.ggml_backend_dev_count() == 0)
                throw new LlamaException($"No ggml backend could be loaded from '{directory}' (expected libggml-cpu-*.so there).");
            NativeApi.llama_backend_init();
            if (numa != GgmlNumaStrategy.Disabled) NativeApi.llama_numa_init(numa);
            _initialized = true;
        }
    }

    /// <summary>llama.cpp's feature line, e.g. "CPU : SSE3 = 1 | AVX2 = 1 | ...".</summary>
    public static unsafe string SystemInfo
    {
        get
        {
            Initialize();
            return NativeApi.PtrToString(NativeApi.llama_print_system_info()) ?? "";
        }
    }

    public static unsafe string Version
    {
        get
        {
            Initialize();
            return NativeApi.PtrToString(NativeApi.llama_version()) ?? "";
        }
    }

    public static bool SupportsGpuOffload
    {
        get
        {
            Initialize();
            return NativeApi.llama_supports_gpu_offload();
        }
    }

    public static bool SupportsMmap
    {
        get
        {
            Initialize();
            return NativeApi.llama_supports_mmap();
        }
    }

    /// <summary>Largest n_seq_max a context accepts.</summary>
    public static int MaxParallelSequences
    {
        get
        {
            Initialize();
            return (int)NativeApi.llama_max_parallel_sequences();
        }
    }

    /// <summary>The compute devices ggml registered (CPU, and GPUs with the CUDA build).</summary>
    public static unsafe IReadOnlyList<LlamaDevice> Devices
    {
        get
        {
            Initialize();
            var count = (int)NativeApi.ggml_backend_dev_count();
            var devices = new List<LlamaDevice>(count);
            for (var i = 0; i < count; i++)
            {
                var dev = NativeApi.ggml_backend_dev_get((nuint)i);
                if (dev == nint.Zero) continue;
                nuint free = 0, total = 0;
                NativeApi.ggml_backend_dev_memory(dev, &free, &total);
                devices.Add(new LlamaDevice(
                    NativeApi.PtrToString(NativeApi.ggml_backend_dev_name(dev)) ?? "",
                    NativeApi.PtrToString(NativeApi.ggml_backend_dev_description(dev)) ?? "",
                    NativeApi.ggml_backend_dev_type(dev),
                    (long)free,
                    (long)total));
            }
            return devices;
        }
    }
}
