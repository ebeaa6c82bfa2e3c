namespace Serve.Llama.Native;

/// <summary>Kind of compute device (enum ggml_backend_dev_type).</summary>
public enum GgmlBackendDeviceType
{
    Cpu = 0,
    Gpu = 1,
    IntegratedGpu = 2,
    Accelerator = 3,
    Meta = 4,
}
