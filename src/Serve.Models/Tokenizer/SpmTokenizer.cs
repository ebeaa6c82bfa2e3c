using System.Text;

namespace Serve.Models;

/// <summary>
/// A managed SPM tokenizer that follows llama.cpp's (<c>llm_tokenizer_spm_session</c>, special tokens not parsed):
/// split into UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is the best-scored token
/// (leftmost on ties), then emit each symbol's token or its bytes. Lets training and tests tokenize without native code.
/// </summary>
public sealed class SpmTokenizer
{
    private readonly TokenizerVocab _vocab;
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly int[] _byteIds = new int[256];

    public SpmTokenizer(TokenizerVocab vocab)
    {
        _vocab = vocab;
        for (var i = 0; i < vocab.Count; i++) _ids.TryAdd(vocab.Tokens[i], i);
        for (var b = 0; b < 256; b++) _byteIds[b] = vocab.ByteTokenId((byte)b);
    }

    public TokenizerVocab Vocab => _vocab;

    public IReadOnlyList<int> Encode(string text, bool addSpecial = true)
    {
        var output = new List<int>();
        if (addSpecial && _vocab.AddBos) output.Add(_vocab.BosId);
        if (text.Length > 0)
        {
            var prefixed = _vocab.AddSpacePrefix ? " " + text : text;
            EncodeEscaped(Encoding.UTF8.GetBytes(SpmTokenizerTrainer.Escape(prefixed)), output);
        }
        if (addSpecial && _vocab.AddEos) output.Add(_vocab.EosId);
        return output;
    }

    /// <summary>Mirrors llama_detokenize(remove_special: true, unparse_special: false).</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var list = ids as IReadOnlyList<int> ?? ids.ToList();
        var start = 0;
        var end = list.Count;
        var removeSpace = _vocab.AddSpacePrefix;
        if (_vocab.AddBos && end > 0 && list[0] == _vocab.BosId) { start = 1; removeSpace = false; }
        if (_vocab.AddEos && end > start && list[end - 1] == _vocab.EosId) end--;

        var bytes = new List<byte>();
        for (var i = start; i < end; i++)
        {
            var piece = PieceBytes(list[i]);
            var skip = removeSpace && piece.Length > 0 && piece[0] == (byte)' ' ? 1 : 0;
            removeSpace = false;
            for (var j = skip; j < piece.Length; j++) bytes.Add(piece[j]);
        }
        return Encoding.UTF8.GetString([.. bytes]);
    }

    /// <summary>The bytes llama_token_to_piece gives with special = false.</summary>
    public byte[] PieceBytes(int id)
    {
        if ((uint)id >= (uint)_vocab.Count) throw new ArgumentOutOfRangeException(nameof(id));
        return _vocab.TokenTypes[id] switch
        {
            TokenType.Normal => Encoding.UTF8.GetBytes(_vocab.Tokens[id].Replace(SpmVocabLayout.SpaceMarker, ' ')),
            TokenType.UserDefined => Encoding.UTF8.GetBytes(_vocab.Tokens[id]),
            TokenType.Byte => [Convert.ToByte(_vocab.Tokens[id][3..5], 16)],
            _ => [],
        };
    }

    private void EncodeEscaped(byte[] text, List<int> output)
    {
        // Symbols are UTF-8 characters as llama.cpp measures them (length from the lead byte only).
        var symStart = new List<int>();
        var symLen = new List<int>();
        for (var offs = 0; offs < text.Length;)
        {
            var len = Math.Min(Utf8Length(text[offs]), text.Length - offs);
            symStart.Add(offs);
            symLen.Add(len);
            offs += len;
        }
        var n = symStart.Count;
        var prev = new int[n];
        var next = new int[n];
        for (var i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }

        // Higher score first; on ties the leftmost pair (llama.cpp's comparator).
        var queue = new PriorityQueue<(int Left, int Right, int Size), (float Score, int Left)>(
            Comparer<(float Score, int Left)>.Create((a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left)));

        void TryAddBigram(int left, int right)
        {
            if (left < 0 || right < 0) return;
            var size = symLen[left] + symLen[right];
            if (!_ids.TryGetValue(Encoding.UTF8.GetString(text, symStart[left], size), out var id)) return;
            queue.Enqueue((left, right, size), (_vocab.Scores[id], left));
        }

        for (var i = 1; i < n; i++) TryAddBigram(i - 1, i);
        while (queue.TryDequeue(out var bigram, out _))
        {
            var (left, right, size) = bigram;
            if (symLen[left] == 0 || symLen[right] == 0 || symLen[left] + symLen[right] != size) continue;
            symLen[left] += symLen[right];
            symLen[right] = 0;
            next[left] = next[right];
            if (next[right] >= 0) prev[next[right]] = left;
            TryAddBigram(prev[left], left);
            TryAddBigram(left, next[left]);
        }

        for (var i = 0; i != -1 && n > 0; i = next[i])
        {
            // A merged symbol is always a token; an unmerged character may not be, and falls back to bytes.
            if (_ids.TryGetValue(Encoding.UTF8.GetString(text, symStart[i], symLen[i]), out var id))
            {
                output.Add(id);
                continue;
            }
            for (var j = 0; j < symLen[i]; j++) output.Add(_byteIds[text[symStart[i] + j]]);
        }
    }

    private static int Utf8Length(byte lead) => (lead >> 4) switch
    {
        0xC or 0xD => 2,
        0xE => 3,
        0xF => 4,
        _ => 1,
    };
}
