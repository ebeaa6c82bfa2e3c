using System.Buffers;
using System.Text;
using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>
/// The model's tokenizer. Thread-safe (llama.cpp's tokenizer API is). Token ids are checked here because llama.cpp
/// indexes its tables with std::vector::at, and an out-of-range id would end the process.
/// </summary>
public sealed class LlamaVocab
{
    private readonly LlamaModel _model;
    private readonly nint _vocab;

    internal LlamaVocab(LlamaModel model, nint vocab)
    {
        _model = model;
        _vocab = vocab;
        Count = NativeApi.llama_vocab_n_tokens(vocab);
        Type = NativeApi.llama_vocab_type(vocab);
        Bos = NativeApi.llama_vocab_bos(vocab);
        Eos = NativeApi.llama_vocab_eos(vocab);
        Eot = NativeApi.llama_vocab_eot(vocab);
        Sep = NativeApi.llama_vocab_sep(vocab);
        Nl = NativeApi.llama_vocab_nl(vocab);
        Pad = NativeApi.llama_vocab_pad(vocab);
        AddBos = NativeApi.llama_vocab_get_add_bos(vocab);
        AddEos = NativeApi.llama_vocab_get_add_eos(vocab);
    }

    /// <summary>Token id that means "none" in llama.cpp (LLAMA_TOKEN_NULL).</summary>
    public const int NullToken = -1;

    public int Count { get; }
    public LlamaVocabType Type { get; }
    public int Bos { get; }
    public int Eos { get; }
    /// <summary>End of turn, or <see cref="NullToken"/>.</summary>
    public int Eot { get; }
    public int Sep { get; }
    public int Nl { get; }
    public int Pad { get; }
    public bool AddBos { get; }
    public bool AddEos { get; }

    public bool IsValid(int token) => (uint)token < (uint)Count;

    /// <summary>True for tokens that end generation (EOS, EOT and the model's other end-of-generation tokens).</summary>
    public bool IsEog(int token)
    {
        if (!IsValid(token)) return false;
        using var lease = new SafeHandleLease(_model.Handle);
        return NativeApi.llama_vocab_is_eog(_vocab, token);
    }

    public bool IsControl(int token)
    {
        if (!IsValid(token)) return false;
        using var lease = new SafeHandleLease(_model.Handle);
        return NativeApi.llama_vocab_is_control(_vocab, token);
    }

    public unsafe string GetText(int token)
    {
        Check(token);
        using var lease = new SafeHandleLease(_model.Handle);
        return NativeApi.PtrToString(NativeApi.llama_vocab_get_text(_vocab, token)) ?? "";
    }

    public float GetScore(int token)
    {
        Check(token);
        using var lease = new SafeHandleLease(_model.Handle);
        return NativeApi.llama_vocab_get_score(_vocab, token);
    }

    public LlamaTokenAttr GetAttr(int token)
    {
        Check(token);
        using var lease = new SafeHandleLease(_model.Handle);
        return NativeApi.llama_vocab_get_attr(_vocab, token);
    }

    /// <summary>
    /// Text to token ids. addSpecial adds BOS/EOS as the model is configured to; parseSpecial turns special-token
    /// text like "&lt;|im_end|&gt;" into its token instead of tokenizing it as plain text.
    /// </summary>
    public unsafe int[] Tokenize(string text, bool addSpecial, bool parseSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        var byteCount = Encoding.UTF8.GetByteCount(text);
        var bytes = ArrayPool<byte>.Shared.Rent(Math.Max(byteCount, 1));
        try
        {
            Encoding.UTF8.GetBytes(text, bytes);
            // SPM-style tokenizers never produce more tokens than bytes (+ BOS/EOS + a space prefix).
            var tokens = new int[byteCount + 4];
            using var lease = new SafeHandleLease(_model.Handle);
            fixed (byte* t = bytes)
            {
                var n = Call(t, tokens);
                if (n == int.MinValue) throw new LlamaException("Tokenization result exceeds int32 range.");
                if (n < 0)
                {
                    tokens = new int[-n];
                    n = Call(t, tokens);
                    if (n < 0) throw new LlamaException($"llama_tokenize failed ({n}).");
                }
                return n == tokens.Length ? tokens : tokens[..n];
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }

        int Call(byte* t, int[] buffer)
        {
            fixed (int* o = buffer)
                return NativeApi.llama_tokenize(_vocab, t, byteCount, o, buffer.Length, addSpecial, parseSpecial);
        }
    }

    /// <summary>
    /// The raw bytes of one token. Pieces can be partial UTF-8 (byte-fallback tokens): concatenate bytes, or use
    /// <see cref="TokenTextDecoder"/>, before decoding text. special renders control tokens; lstrip skips up to that
    /// many leading spaces.
    /// </summary>
    public byte[] TokenToPiece(int token, bool special = false, int lstrip = 0)
    {
        Span<byte> stack = stackalloc byte[64];
        var n = TokenToPiece(token, stack, special, lstrip);
        if (n >= 0) return stack[..n].ToArray();
        var heap = new byte[-n];
        n = TokenToPiece(token, heap, special, lstrip);
        return heap[..n];
    }

    /// <summary>Writes one token's bytes; returns the count, or minus the size needed when destination is too small.</summary>
    public unsafe int TokenToPiece(int token, Span<byte> destination, bool special = false, int lstrip = 0)
    {
        Check(token);
        ArgumentOutOfRangeException.ThrowIfNegative(lstrip);
        using var lease = new SafeHandleLease(_model.Handle);
        fixed (byte* b = destination)
            return NativeApi.llama_token_to_piece(_vocab, token, b, destination.Length, lstrip, special);
    }

    /// <summary>One token as text (invalid or partial UTF-8 becomes U+FFFD; stream with <see cref="TokenTextDecoder"/>).</summary>
    public string TokenToString(int token, bool special = false) => Encoding.UTF8.GetString(TokenToPiece(token, special));

    /// <summary>
    /// Token ids back to text. removeSpecial drops the BOS/EOS the model adds (and the SPM leading space);
    /// unparseSpecial renders special tokens as their text.
    /// </summary>
    public unsafe string Detokenize(ReadOnlySpan<int> tokens, bool removeSpecial = false, bool unparseSpecial = false)
    {
        foreach (var token in tokens) Check(token);
        if (tokens.IsEmpty) return "";
        using var lease = new SafeHandleLease(_model.Handle);
        var buffer = new byte[Math.Max(64, tokens.Length * 8)];
        var count = tokens.Length;
        fixed (int* t = tokens)
        {
            var n = Call(t, count, buffer);
            if (n < 0)
            {
                buffer = new byte[-n];
                n = Call(t, count, buffer);
                if (n < 0) throw new LlamaException($"llama_detokenize failed ({n}).");
            }
            return Encoding.UTF8.GetString(buffer, 0, n);
        }

        int Call(int* t, int count, byte[] output)
        {
            fixed (byte* o = output)
                return NativeApi.llama_detokenize(_vocab, t, count, o, output.Length, removeSpecial, unparseSpecial);
        }
    }

    internal nint Pointer => _vocab;

    private void Check(int token)
    {
        if (!IsValid(token))
            throw new ArgumentOutOfRangeException(nameof(token), token, $"Token id must be in [0, {Count}).");
    }
}
