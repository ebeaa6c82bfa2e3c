using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct llama_model_params, field by field (80 bytes on x86-64).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LlamaModelParams
{
    public nint Devices;               // ggml_backend_dev_t*, NULL-terminated; NULL = all devices
    public nint TensorBuftOverrides;   // const llama_model_tensor_buft_override*
    public int NGpuLayers;
    public LlamaSplitMode SplitMode;
    public LlamaLoadMode LoadMode;
    public LlamaLazyMode LazyMode;
    public int MainGpu;
    public float* TensorSplit;
    public delegate* unmanaged[Cdecl]<float, void*, byte> ProgressCallback;
    public void* ProgressCallbackUserData;
    public nint KvOverrides;           // const llama_model_kv_override*
    public NativeBool VocabOnly;
    public NativeBool CheckTensors;
    public NativeBool UseExtraBufts;
    public NativeBool NoHost;
    public NativeBool NoAlloc;
    public NativeBool LoadMtp;
}
