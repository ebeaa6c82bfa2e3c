using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>A ggml compute device and its memory (bytes).</summary>
public sealed record LlamaDevice(string Name, string Description, GgmlBackendDeviceType Type, long FreeBytes, long TotalBytes);
