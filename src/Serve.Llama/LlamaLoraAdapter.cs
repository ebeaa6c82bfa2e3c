using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>
/// A LoRA adapter (GGUF, general.type = adapter) loaded for one base model. Set it on a context with
/// <see cref="LlamaContext.SetAdapters"/>. It keeps its model alive; contexts it is set on keep it alive.
/// </summary>
public sealed class LlamaLoraAdapter : IDisposable
{
    private IReadOnlyDictionary<string, string>? _metadata;

    private LlamaLoraAdapter(LlamaModel model, SafeLlamaAdapterHandle handle, string path)
    {
        Model = model;
        Handle = handle;
        Path = path;
    }

    internal SafeLlamaAdapterHandle Handle { get; }

    private volatile bool _disposed;

    /// <summary>True once disposed; the native adapter may still live while a context has it set.</summary>
    public bool IsDisposed => _disposed;

    internal SafeLlamaAdapterHandle Live => _disposed ? throw new ObjectDisposedException(nameof(LlamaLoraAdapter)) : Handle;

    public LlamaModel Model { get; }

    public string Path { get; }

    /// <summary>
    /// Loads and validates an adapter against model (architecture, tensor names and shapes). Throws
    /// FileNotFoundException, or LlamaException carrying llama.cpp's reason when the adapter is refused.
    /// </summary>
    public static LlamaLoraAdapter Load(LlamaModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        ObjectDisposedException.ThrowIf(model.IsDisposed, model);
        if (!File.Exists(path)) throw new FileNotFoundException($"Adapter file '{path}' does not exist.", path);
        LlamaBackend.Initialize();

        var handle = new SafeLlamaAdapterHandle();
        try
        {
            handle.AddDependency(model.Handle);
            handle.Gate = model.AdapterSetGate;
            var capture = LlamaLogging.BeginCapture();
            nint pointer;
            lock (model.AdapterSetGate) // the init adds the adapter to the model's set (see AdapterSetGate)
                pointer = NativeApi.llama_adapter_lora_init(model.Handle.DangerousGetHandle(), path);
            if (pointer == nint.Zero) throw LlamaException.FromNative($"Failed to load LoRA adapter '{path}'", capture.Errors);
            handle.Attach(pointer);
            return new LlamaLoraAdapter(model, handle, path);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The adapter's GGUF metadata scalars as strings (e.g. adapter.lora.alpha, general.architecture).</summary>
    public IReadOnlyDictionary<string, string> Metadata => _metadata ??= ReadMetadata();

    private unsafe IReadOnlyDictionary<string, string> ReadMetadata()
    {
        var count = NativeApi.llama_adapter_meta_count(Live);
        var result = new Dictionary<string, string>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var key = NativeStrings.Read((buf, size) => NativeApi.llama_adapter_meta_key_by_index(Live, i, buf, size));
            var value = NativeStrings.Read((buf, size) => NativeApi.llama_adapter_meta_val_str_by_index(Live, i, buf, size));
            if (key is not null) result[key] = value ?? "";
        }
        return result;
    }

    /// <summary>For an activated LoRA (aLoRA): the tokens that switch it on; empty for a plain LoRA.</summary>
    public unsafe int[] AloraInvocationTokens
    {
        get
        {
            var n = NativeApi.llama_adapter_get_alora_n_invocation_tokens(Live);
            if (n == 0) return [];
            var tokens = NativeApi.llama_adapter_get_alora_invocation_tokens(Live);
            return new ReadOnlySpan<int>(tokens, checked((int)n)).ToArray();
        }
    }

    public void Dispose()
    {
        _disposed = true;
        Handle.Dispose();
    }
}
