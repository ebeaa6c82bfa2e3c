using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Serve.Models;

/// <summary>
/// Learns an SPM vocabulary by byte-pair merges over the corpus. Each merge becomes a piece whose score falls with
/// merge order, so llama.cpp's SPM tokenizer (which always merges the best-scored adjacent pair) replays the merges.
/// </summary>
public static class SpmTokenizerTrainer
{
    /// <summary>The fixed tokens plus the space piece "▁", which must be a token (its bytes would detokenize as "▁").</summary>
    public static int MinimumVocabSize => SpmVocabLayout.FirstLearnedId + 1;

    private static readonly ConcurrentDictionary<int, Lazy<TokenizerVocab>> DefaultBySize = new();

    /// <summary>A vocabulary learned from the project's embedded corpus, cached per size.</summary>
    public static TokenizerVocab Default(int vocabSize = 512) =>
        DefaultBySize.GetOrAdd(vocabSize, size => new Lazy<TokenizerVocab>(() => Train(EmbeddedCorpus.Text, size))).Value;

    public static TokenizerVocab Train(string corpus, int vocabSize) => TrainWithSegmentation(corpus, vocabSize).Vocab;

    /// <summary>Also returns how training left each corpus unit split, so tests can check llama.cpp-style merging replays it.</summary>
    internal static (TokenizerVocab Vocab, IReadOnlyDictionary<string, string[]> Segmentation) TrainWithSegmentation(string corpus, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        if (vocabSize < MinimumVocabSize)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, $"vocabulary size must be at least {MinimumVocabSize}");

        var tokens = new List<string>(vocabSize);
        var scores = new List<float>(vocabSize);
        var types = new List<TokenType>(vocabSize);
        void Add(string text, float score, TokenType type) { tokens.Add(text); scores.Add(score); types.Add(type); }

        Add(SpmVocabLayout.Unk, 0, TokenType.Unknown);
        Add(SpmVocabLayout.Bos, 0, TokenType.Control);
        Add(SpmVocabLayout.Eos, 0, TokenType.Control);
        for (var b = 0; b < 256; b++) Add(SpmVocabLayout.ByteTokenText(b), 0, TokenType.Byte);
        Add(SpmVocabLayout.ImStart, 0, TokenType.Control);
        Add(SpmVocabLayout.ImEnd, 0, TokenType.Control);

        var learned = new MergeLearner(corpus);
        var budget = vocabSize - tokens.Count;
        var singles = learned.SingleCharacterPieces(maxCount: Math.Max(1, budget / 8));
        var merges = learned.LearnMerges(budget - singles.Count);
        if (singles.Count + merges.Count < budget)
            throw new ArgumentException(
                $"the corpus supports only {tokens.Count + singles.Count + merges.Count} tokens, not {vocabSize}", nameof(vocabSize));

        // Single characters never result from a merge, so their score does not affect segmentation.
        foreach (var piece in singles) Add(piece, 0, TokenType.Normal);
        for (var rank = 0; rank < merges.Count; rank++) Add(merges[rank], -(rank + 1), TokenType.Normal);

        var vocab = new TokenizerVocab(tokens, scores, types)
        {
            UnkId = SpmVocabLayout.UnkId,
            BosId = SpmVocabLayout.BosId,
            EosId = SpmVocabLayout.EosId,
            EotId = SpmVocabLayout.ImEndId,
            AddBos = true,
            AddEos = false,
            AddSpacePrefix = false,
            ChatTemplate = SpmVocabLayout.ChatMlTemplate,
        };
        return (vocab, learned.Segmentation());
    }

    /// <summary>
    /// Splits escaped text into the units merges may not cross: a run of "▁" followed by a run of letters, by one
    /// digit, or by one other character; a newline alone; a trailing run of "▁". Learned pieces therefore never end
    /// in "▁" unless they are all "▁", so no adjacent pair across a unit boundary is ever a token, and llama.cpp
    /// (which does not pre-split) cannot merge across units either.
    /// </summary>
    internal static IEnumerable<string> Units(string escaped)
    {
        var i = 0;
        while (i < escaped.Length)
        {
            var start = i;
            while (i < escaped.Length && escaped[i] == SpmVocabLayout.SpaceMarker) i++;
            if (i == escaped.Length || escaped[i] == '\n')
            {
                if (i > start) yield return escaped[start..i];
                if (i < escaped.Length) { yield return "\n"; i++; }
                continue;
            }
            var rune = Rune.GetRuneAt(escaped, i);
            if (IsWordRune(rune))
            {
                while (i < escaped.Length && escaped[i] != SpmVocabLayout.SpaceMarker && IsWordRune(Rune.GetRuneAt(escaped, i)))
                    i += Rune.GetRuneAt(escaped, i).Utf16SequenceLength;
            }
            else
            {
                i += rune.Utf16SequenceLength;
            }
            yield return escaped[start..i];
        }
    }

    private static bool IsWordRune(Rune rune) => Rune.GetUnicodeCategory(rune) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
            or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark => true,
        _ => false,
    };

    internal static string Escape(string text) => text.Replace(' ', SpmVocabLayout.SpaceMarker);

    /// <summary>Byte-pair learning with incremental pair counts, so large vocabularies stay fast.</summary>
    private sealed class MergeLearner
    {
        private readonly List<string> _symbols = [];
        private readonly Dictionary<string, int> _symbolIds = new(StringComparer.Ordinal);
        private readonly List<bool> _blocked = [];
        private readonly List<int[]> _words = [];
        private readonly List<int> _wordCounts = [];
        private readonly List<string> _units = [];
        private readonly Dictionary<long, int> _pairCounts = [];
        private readonly Dictionary<long, HashSet<int>> _pairWords = [];
        private readonly PriorityQueue<long, (int Count, long Pair)> _queue =
            new(Comparer<(int Count, long Pair)>.Create((a, b) => a.Count != b.Count ? b.Count.CompareTo(a.Count) : a.Pair.CompareTo(b.Pair)));

        public MergeLearner(string corpus)
        {
            var unitCounts = new Dictionary<string, int>(StringComparer.Ordinal);
            var unitOrder = new List<string>();
            foreach (var unit in Units(Escape(corpus.Replace("\r\n", "\n"))))
            {
                if (unitCounts.TryGetValue(unit, out var n)) { unitCounts[unit] = n + 1; continue; }
                unitCounts[unit] = 1;
                unitOrder.Add(unit);
            }
            foreach (var unit in unitOrder)
            {
                var symbols = new List<int>();
                foreach (var rune in unit.EnumerateRunes()) symbols.Add(SymbolId(rune.ToString()));
                _words.Add([.. symbols]);
                _units.Add(unit);
                _wordCounts.Add(unitCounts[unit]);
            }
        }

        public Dictionary<string, string[]> Segmentation()
        {
            var result = new Dictionary<string, string[]>(StringComparer.Ordinal);
            for (var w = 0; w < _words.Count; w++)
                result[_units[w]] = [.. _words[w].Select(s => _symbols[s])];
            return result;
        }

        private int SymbolId(string text)
        {
            if (_symbolIds.TryGetValue(text, out var id)) return id;
            id = _symbols.Count;
            _symbols.Add(text);
            _symbolIds[text] = id;
            // Pieces holding '<' or '>' could let llama.cpp's merges spell a control or byte token from plain text.
            _blocked.Add(text.Length > 0 && (text.Contains('<') || text.Contains('>')));
            return id;
        }

        /// <summary>"▁" first, then the most frequent multi-byte characters (single bytes are already byte tokens).</summary>
        public List<string> SingleCharacterPieces(int maxCount)
        {
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var w = 0; w < _words.Count; w++)
                foreach (var s in _words[w])
                    counts[_symbols[s]] = counts.GetValueOrDefault(_symbols[s]) + _wordCounts[w];
            var space = SpmVocabLayout.SpaceMarker.ToString();
            var others = counts
                .Where(kv => kv.Key != space && Encoding.UTF8.GetByteCount(kv.Key) > 1 && kv.Value >= 2)
                .OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
                .Take(maxCount - 1)
                .Select(kv => kv.Key);
            return [space, .. others];
        }

        public List<string> LearnMerges(int count)
        {
            var merges = new List<string>(Math.Max(0, count));
            var known = new HashSet<string>(StringComparer.Ordinal);
            for (var w = 0; w < _words.Count; w++) AddPairs(w, +1);
            foreach (var (pair, n) in _pairCounts) _queue.Enqueue(pair, (n, pair));

            while (merges.Count < count && _queue.TryDequeue(out var pair, out var key))
            {
                if (_pairCounts.GetValueOrDefault(pair) != key.Count || key.Count == 0) continue; // stale entry
                var (left, right) = Split(pair);
                var text = _symbols[left] + _symbols[right];
                var merged = SymbolId(text);
                // The same string can arise from two different splits; it is one token with the first merge's rank.
                if (known.Add(text)) merges.Add(text);
                Apply(pair, left, right, merged);
            }
            return merges;
        }

        private void Apply(long pair, int left, int right, int merged)
        {
            var touched = _pairWords[pair].Order().ToArray();
            foreach (var w in touched)
            {
                AddPairs(w, -1);
                var src = _words[w];
                var dst = new List<int>(src.Length);
                for (var i = 0; i < src.Length; i++)
                {
                    if (i + 1 < src.Length && src[i] == left && src[i + 1] == right) { dst.Add(merged); i++; }
                    else dst.Add(src[i]);
                }
                _words[w] = [.. dst];
                AddPairs(w, +1);
            }
            // Re-queue the counts that changed; stale entries are skipped when dequeued.
            foreach (var w in touched)
            {
                var word = _words[w];
                for (var i = 0; i + 1 < word.Length; i++)
                {
                    var p = Pair(word[i], word[i + 1]);
                    if (_pairCounts.TryGetValue(p, out var n) && n > 0) _queue.Enqueue(p, (n, p));
                }
            }
        }

        private void AddPairs(int w, int sign)
        {
            var word = _words[w];
            for (var i = 0; i + 1 < word.Length; i++)
            {
                if (_blocked[word[i]] || _blocked[word[i + 1]]) continue;
                var p = Pair(word[i], word[i + 1]);
                var n = _pairCounts.GetValueOrDefault(p) + sign * _wordCounts[w];
                if (n == 0) _pairCounts.Remove(p); else _pairCounts[p] = n;
                if (sign > 0)
                {
                    if (!_pairWords.TryGetValue(p, out var set)) _pairWords[p] = set = [];
                    set.Add(w);
                }
                else if (n == 0)
                {
                    _pairWords.Remove(p);
                }
            }
        }

        private static long Pair(int left, int right) => ((long)left << 32) | (uint)right;
        private static (int Left, int Right) Split(long pair) => ((int)(pair >> 32), (int)(pair & 0xFFFFFFFF));
    }
}
