using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>
/// A loaded GGUF base model (weights + vocab). Thread-safe to share: contexts and adapters made from it keep it
/// alive, so disposing the model while they exist only drops this reference.
/// </summary>
public sealed class LlamaModel : IDisposable
{
    private IReadOnlyDictionary<string, string>? _metadata;

    private LlamaModel(SafeLlamaModelHandle handle, string path)
    {
        Handle = handle;
        Path = path;
        Vocab = new LlamaVocab(this, NativeApi.llama_model_get_vocab(handle));
    }

    /// <summary>The native model; contexts and adapters hold references on it, so it may outlive Dispose.</summary>
    internal SafeLlamaModelHandle Handle { get; }

    /// <summary>
    /// llama.cpp keeps a model's adapters in one unsynchronized set (<c>llama_model::loras</c>):
    /// <c>llama_adapter_lora_init</c> inserts into it, <c>llama_adapter_lora_free</c> erases from it, and a context
    /// reads it whenever it reserves its graph (creation, and the decode after a change of LoRA targets or adapters).
    /// Those calls hold this lock, so adapters may be loaded and freed on any thread while a context decodes.
    /// </summary>
    internal object AdapterSetGate { get; } = new();

    private volatile bool _disposed;

    public bool IsDisposed => _disposed;

    /// <summary>The handle for this object's own members: throws once the user disposed it.</summary>
    internal SafeLlamaModelHandle Live => _disposed ? throw new ObjectDisposedException(nameof(LlamaModel)) : Handle;

    public string Path { get; }

    public LlamaVocab Vocab { get; }

    /// <summary>Loads a GGUF model. Throws FileNotFoundException, OperationCanceledException, or LlamaException with llama.cpp's reason.</summary>
    public static unsafe LlamaModel Load(string path, LlamaModelOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new LlamaModelOptions();
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        LlamaBackend.Initialize();

        var p = NativeApi.llama_model_default_params();
        p.NGpuLayers = options.GpuLayers;
        p.SplitMode = options.SplitMode;
        p.MainGpu = options.MainGpu;
        p.LoadMode = options.LoadMode;
        p.VocabOnly = options.VocabOnly;
        p.CheckTensors = options.CheckTensors;

        var progress = new LoadProgress(options.Progress, cancellationToken);
        var gc = GCHandle.Alloc(progress);
        var handle = new SafeLlamaModelHandle();
        try
        {
            if (options.Progress is not null || cancellationToken.CanBeCanceled)
            {
                p.ProgressCallback = &OnProgress;
                p.ProgressCallbackUserData = (void*)GCHandle.ToIntPtr(gc);
            }
            var capture = LlamaLogging.BeginCapture();
            var pointer = NativeApi.llama_model_load_from_file(path, p);
            if (pointer == nint.Zero)
            {
                cancellationToken.ThrowIfCancellationRequested();
                throw LlamaException.FromNative($"Failed to load model '{path}'", capture.Errors);
            }
            handle.Attach(pointer);
            return new LlamaModel(handle, path);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        finally
        {
            gc.Free();
        }
    }

    private sealed record LoadProgress(IProgress<float>? Progress, CancellationToken Cancellation);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe byte OnProgress(float value, void* userData)
    {
        try
        {
            var state = (LoadProgress)GCHandle.FromIntPtr((nint)userData).Target!;
            state.Progress?.Report(value);
            return state.Cancellation.IsCancellationRequested ? (byte)0 : (byte)1;
        }
        catch
        {
            return 1;
        }
    }

    /// <summary>All GGUF metadata scalars as strings (arrays are not exposed by llama.cpp).</summary>
    public IReadOnlyDictionary<string, string> Metadata => _metadata ??= ReadMetadata();

    private unsafe IReadOnlyDictionary<string, string> ReadMetadata()
    {
        var count = NativeApi.llama_model_meta_count(Live);
        var result = new Dictionary<string, string>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var key = NativeStrings.Read((buf, size) => NativeApi.llama_model_meta_key_by_index(Live, i, buf, size));
            var value = NativeStrings.Read((buf, size) => NativeApi.llama_model_meta_val_str_by_index(Live, i, buf, size));
            if (key is not null) result[key] = value ?? "";
        }
        return result;
    }

    public unsafe string Description =>
        NativeStrings.Read((buf, size) => NativeApi.llama_model_desc(Live, buf, size)) ?? "";

    public long SizeBytes => (long)NativeApi.llama_model_size(Live);
    public long ParameterCount => (long)NativeApi.llama_model_n_params(Live);
    public int EmbeddingLength => NativeApi.llama_model_n_embd(Live);
    public int LayerCount => NativeApi.llama_model_n_layer(Live);
    public int HeadCount => NativeApi.llama_model_n_head(Live);
    public int HeadCountKv => NativeApi.llama_model_n_head_kv(Live);
    public int SlidingWindow => NativeApi.llama_model_n_swa(Live);
    public int TrainContextLength => NativeApi.llama_model_n_ctx_train(Live);
    public float RopeFreqScaleTrain => NativeApi.llama_model_rope_freq_scale_train(Live);
    public LlamaRopeType RopeType => NativeApi.llama_model_rope_type(Live);
    public bool HasEncoder => NativeApi.llama_model_has_encoder(Live);
    public bool HasDecoder => NativeApi.llama_model_has_decoder(Live);
    public bool IsRecurrent => NativeApi.llama_model_is_recurrent(Live);
    public bool IsHybrid => NativeApi.llama_model_is_hybrid(Live);

    /// <summary>The model's default chat template (tokenizer.chat_template), or null.</summary>
    public string? ChatTemplate => GetChatTemplate(null);

    /// <summary>A named chat template (tokenizer.chat_template.&lt;name&gt;); null name = default. Null when absent.</summary>
    public unsafe string? GetChatTemplate(string? name) =>
        NativeApi.PtrToString(NativeApi.llama_model_chat_template(Live, name));

    public void Dispose()
    {
        _disposed = true;
        Handle.Dispose();
    }
}
