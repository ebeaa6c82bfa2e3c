namespace Serve.Models;

/// <summary>
/// An SPM ("llama") vocabulary as llama.cpp reads it from <c>tokenizer.ggml.*</c>: pieces use U+2581 for a space,
/// merges are driven by <see cref="Scores"/> (higher merges first), and every byte has a <c>&lt;0xXX&gt;</c> token.
/// </summary>
public sealed record TokenizerVocab(IReadOnlyList<string> Tokens, IReadOnlyList<float> Scores, IReadOnlyList<TokenType> TokenTypes)
{
    public int UnkId { get; init; }
    public int BosId { get; init; } = 1;
    public int EosId { get; init; } = 2;

    /// <summary>End of turn (<c>&lt;|im_end|&gt;</c> for chatml); llama.cpp treats it as end of generation.</summary>
    public int? EotId { get; init; }

    public int? PadId { get; init; }
    public bool AddBos { get; init; } = true;
    public bool AddEos { get; init; }

    /// <summary>
    /// False by default: with a prefix space llama.cpp's detokenize keeps the leading space whenever BOS is present,
    /// so text would not round-trip exactly.
    /// </summary>
    public bool AddSpacePrefix { get; init; }

    public string? ChatTemplate { get; init; }

    public int Count => Tokens.Count;

    /// <summary>Id of the byte-fallback token <c>&lt;0xXX&gt;</c> for <paramref name="value"/>.</summary>
    public int ByteTokenId(byte value)
    {
        var text = SpmVocabLayout.ByteTokenText(value);
        var guess = SpmVocabLayout.FirstByteId + value; // this project's layout; other vocabularies are searched
        if (guess < Tokens.Count && Tokens[guess] == text) return guess;
        for (var i = 0; i < Tokens.Count; i++)
            if (Tokens[i] == text) return i;
        throw new InvalidOperationException($"vocabulary has no byte token {text}");
    }
}
