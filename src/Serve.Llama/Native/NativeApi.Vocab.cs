using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>llama_vocab functions; the vocab pointer belongs to its model (llama_model_get_vocab).</summary>
internal static unsafe partial class NativeApi
{
    [LibraryImport(Llama)]
    internal static partial LlamaVocabType llama_vocab_type(nint vocab);

    [LibraryImport(Llama)]
    internal static partial int llama_vocab_n_tokens(nint vocab);

    [LibraryImport(Llama)]
    internal static partial byte* llama_vocab_get_text(nint vocab, int token);

    [LibraryImport(Llama)]
    internal static partial float llama_vocab_get_score(nint vocab, int token);

    [LibraryImport(Llama)]
    internal static partial LlamaTokenAttr llama_vocab_get_attr(nint vocab, int token);

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_vocab_is_eog(nint vocab, int token);

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_vocab_is_control(nint vocab, int token);

    [LibraryImport(Llama)]
    internal static partial int llama_vocab_bos(nint vocab);

    [LibraryImport(Llama)]
    internal static partial int llama_vocab_eos(nint vocab);

    [LibraryImport(Llama)]
    internal static partial int llama_vocab_eot(nint vocab);

    [LibraryImport(Llama)]
    internal static partial int llama_vocab_sep(nint vocab);

    [LibraryImport(Llama)]
    internal static partial int llama_vocab_nl(nint vocab);

    [LibraryImport(Llama)]
    internal static partial int llama_vocab_pad(nint vocab);

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_vocab_get_add_bos(nint vocab);

    [LibraryImport(Llama)]
    internal static partial NativeBool llama_vocab_get_add_eos(nint vocab);

    [LibraryImport(Llama)]
    internal static partial int llama_tokenize(nint vocab, byte* text, int textLen, int* tokens, int nTokensMax,
        NativeBool addSpecial, NativeBool parseSpecial);

    [LibraryImport(Llama)]
    internal static partial int llama_token_to_piece(nint vocab, int token, byte* buf, int length, int lstrip, NativeBool special);

    [LibraryImport(Llama)]
    internal static partial int llama_detokenize(nint vocab, int* tokens, int nTokens, byte* text, int textLenMax,
        NativeBool removeSpecial, NativeBool unparseSpecial);
}
