using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

internal static unsafe partial class NativeApi
{
    [LibraryImport(Llama)]
    internal static partial LlamaModelParams llama_model_default_params();

    [LibraryImport(Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint llama_model_load_from_file(string pathModel, LlamaModelParams parameters);

    [LibraryImport(Llama)]
    internal static partial void llama_model_free(nint model);

    [LibraryImport(Llama)]
    internal static partial nint llama_model_get_vocab(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial LlamaRopeType llama_model_rope_type(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial int llama_model_n_ctx_train(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial int llama_model_n_embd(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial int llama_model_n_layer(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial int llama_model_n_head(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial int llama_model_n_head_kv(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial int llama_model_n_swa(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial float llama_model_rope_freq_scale_train(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial int llama_model_meta_count(SafeLlamaModelHandle model);

    [LibraryImport(Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int llama_model_meta_val_str(SafeLlamaModelHandle model, string key, byte* buf, nuint bufSize);

    [LibraryImport(Llama)]
    internal static partial int llama_model_meta_key_by_index(SafeLlamaModelHandle model, int i, byte* buf, nuint bufSize);

    [LibraryImport(Llama)]
    internal static partial int llama_model_meta_val_str_by_index(SafeLlamaModelHandle model, int i, byte* buf, nuint bufSize);

    [LibraryImport(Llama)]
    internal static partial int llama_model_desc(SafeLlamaModelHandle model, byte* buf, nuint bufSize);

    [LibraryImport(Llama)]
    internal static partial ulong llama_model_size(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial ulong llama_model_n_params(SafeLlamaModelHandle model);

    [LibraryImport(Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial byte* llama_model_chat_template(SafeLlamaModelHandle model, string? name);

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_model_has_encoder(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_model_has_decoder(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_model_is_recurrent(SafeLlamaModelHandle model);

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_model_is_hybrid(SafeLlamaModelHandle model);
}
