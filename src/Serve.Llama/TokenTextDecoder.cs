using System.Text;

namespace Serve.Llama;

/// <summary>
/// Turns a stream of tokens into text without breaking characters: token pieces may end inside a UTF-8 sequence
/// (byte-fallback tokens, emoji split over several tokens), so incomplete bytes are held until the rest arrives.
/// Not thread-safe; one per generated sequence.
/// </summary>
public sealed class TokenTextDecoder
{
    private readonly LlamaVocab? _vocab;
    private readonly bool _special;
    private readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private char[] _chars = new char[64];

    /// <param name="vocab">Vocab used by <see cref="Append(int)"/>.</param>
    /// <param name="special">Render control tokens as their text.</param>
    public TokenTextDecoder(LlamaVocab? vocab = null, bool special = false)
    {
        _vocab = vocab;
        _special = special;
    }

    /// <summary>Adds one token; returns the text that became complete (possibly empty).</summary>
    public string Append(int token)
    {
        if (_vocab is null) throw new InvalidOperationException("This decoder was created without a vocab; append bytes instead.");
        return Append(_vocab.TokenToPiece(token, _special));
    }

    /// <summary>Adds raw piece bytes; returns the text that became complete (possibly empty).</summary>
    public string Append(ReadOnlySpan<byte> bytes) => Decode(bytes, flush: false);

    /// <summary>Ends the stream: returns what is left, with U+FFFD for an unfinished sequence.</summary>
    public string Flush() => Decode([], flush: true);

    private string Decode(ReadOnlySpan<byte> bytes, bool flush)
    {
        // At most one char per byte, plus what a held partial sequence can become.
        var needed = bytes.Length + 4;
        if (_chars.Length < needed) _chars = new char[Math.Max(needed, _chars.Length * 2)];
        var n = _decoder.GetChars(bytes, _chars, flush);
        return new string(_chars, 0, n);
    }
}
