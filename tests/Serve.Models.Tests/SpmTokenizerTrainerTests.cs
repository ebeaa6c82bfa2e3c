using System.Diagnostics;
using System.Text;

namespace Serve.Models.Tests;

public class SpmTokenizerTrainerTests
{
    private const string MixedText = "Héllo wörld! 🙂 naïve café — \"quotes\"\n\ttabs   and  runs of   spaces \n\n日本語 ok  ";

    [Fact]
    public void Train_SameCorpus_IsDeterministic()
    {
        var a = SpmTokenizerTrainer.Train(EmbeddedCorpus.Text, 400);
        var b = SpmTokenizerTrainer.Train(EmbeddedCorpus.Text, 400);

        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(a.Scores, b.Scores);
        Assert.Equal(a.TokenTypes, b.TokenTypes);
    }

    [Theory]
    [InlineData(262)]
    [InlineData(512)]
    [InlineData(1000)]
    public void Train_HonoursVocabSize_WithUniqueTokens(int size)
    {
        var vocab = SpmTokenizerTrainer.Train(EmbeddedCorpus.Text, size);

        Assert.Equal(size, vocab.Count);
        Assert.Equal(size, vocab.Scores.Count);
        Assert.Equal(size, vocab.TokenTypes.Count);
        Assert.Equal(size, vocab.Tokens.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Train_FixedLayout_MatchesLlamaCppExpectations()
    {
        var vocab = SpmTokenizerTrainer.Default(512);

        Assert.Equal(("<unk>", TokenType.Unknown), (vocab.Tokens[0], vocab.TokenTypes[0]));
        Assert.Equal(("<s>", TokenType.Control), (vocab.Tokens[1], vocab.TokenTypes[1]));
        Assert.Equal(("</s>", TokenType.Control), (vocab.Tokens[2], vocab.TokenTypes[2]));
        for (var b = 0; b < 256; b++)
        {
            Assert.Equal($"<0x{b:X2}>", vocab.Tokens[vocab.ByteTokenId((byte)b)]);
            Assert.Equal(TokenType.Byte, vocab.TokenTypes[vocab.ByteTokenId((byte)b)]);
        }
        Assert.Equal("<|im_start|>", vocab.Tokens[SpmVocabLayout.ImStartId]);
        Assert.Equal("<|im_end|>", vocab.Tokens[SpmVocabLayout.ImEndId]);
        Assert.Equal(SpmVocabLayout.ImEndId, vocab.EotId);
        Assert.Equal(TokenType.Control, vocab.TokenTypes[SpmVocabLayout.ImEndId]);
        Assert.Contains("\u2581", vocab.Tokens);
        Assert.True(vocab.AddBos);
        Assert.False(vocab.AddEos);
        Assert.Contains("<|im_start|>", vocab.ChatTemplate);
    }

    [Fact]
    public void Train_LearnedPieces_AreNormalWithFallingScores()
    {
        var vocab = SpmTokenizerTrainer.Default(512);
        var merged = Enumerable.Range(SpmVocabLayout.FirstLearnedId, vocab.Count - SpmVocabLayout.FirstLearnedId)
            .Where(i => vocab.Tokens[i].EnumerateRunes().Count() > 1).ToList();

        Assert.NotEmpty(merged);
        Assert.All(merged, i => Assert.Equal(TokenType.Normal, vocab.TokenTypes[i]));
        Assert.All(merged.Zip(merged.Skip(1)), p => Assert.True(vocab.Scores[p.First] > vocab.Scores[p.Second]));
        // A piece with '<' or '>' could let merges spell "<s>" or "<0x41>" out of plain text.
        Assert.DoesNotContain(merged, i => vocab.Tokens[i].Contains('<') || vocab.Tokens[i].Contains('>'));
        Assert.Contains("\u2581the", vocab.Tokens);
    }

    [Fact]
    public void Default_IsCachedPerSize_AndFast()
    {
        var sw = Stopwatch.StartNew();
        var fresh = SpmTokenizerTrainer.Train(EmbeddedCorpus.Text, 512);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"training took {sw.Elapsed}");

        Assert.Same(SpmTokenizerTrainer.Default(512), SpmTokenizerTrainer.Default(512));
        Assert.Equal(fresh.Tokens, SpmTokenizerTrainer.Default(512).Tokens);
        Assert.NotEqual(SpmTokenizerTrainer.Default(512).Count, SpmTokenizerTrainer.Default(300).Count);
    }

    [Fact]
    public void Train_TooSmallVocab_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SpmTokenizerTrainer.Train(EmbeddedCorpus.Text, 100));
    }

    [Fact]
    public void Encode_ReplaysTrainingSegmentation_ForEveryCorpusUnit()
    {
        var (vocab, segmentation) = SpmTokenizerTrainer.TrainWithSegmentation(EmbeddedCorpus.Text, 512);
        var tokenizer = new SpmTokenizer(vocab);
        var ids = vocab.Tokens.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i, StringComparer.Ordinal);

        var mismatches = new List<string>();
        foreach (var (unit, pieces) in segmentation)
        {
            var expected = pieces.SelectMany(p => ids.TryGetValue(p, out var id)
                ? [id]
                : Encoding.UTF8.GetBytes(p).Select(vocab.ByteTokenId)).ToArray();
            var actual = tokenizer.Encode(unit.Replace('\u2581', ' '), addSpecial: false);
            if (!actual.SequenceEqual(expected)) mismatches.Add($"{unit}: [{string.Join("|", pieces)}]");
        }

        Assert.True(segmentation.Count > 300);
        Assert.Empty(mismatches);
    }

    [Theory]
    [InlineData(MixedText)]
    [InlineData("")]
    [InlineData(" leading and trailing ")]
    [InlineData("<s> and </s> and <|im_end|> and <0x41> stay text")]
    [InlineData("\u0000\u0001\u007f control bytes")]
    public void EncodeDecode_RoundTripsMixedText(string text)
    {
        var tokenizer = new SpmTokenizer(SpmTokenizerTrainer.Default(512));

        var ids = tokenizer.Encode(text);

        Assert.Equal(SpmVocabLayout.BosId, ids[0]);
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.DoesNotContain(ids.Skip(1), id => tokenizer.Vocab.TokenTypes[id] is TokenType.Control or TokenType.Unknown);
    }

    [Fact]
    public void Encode_EveryByteIsRepresentable()
    {
        var vocab = SpmTokenizerTrainer.Default(512);
        var tokenizer = new SpmTokenizer(vocab);

        for (var b = 0; b < 128; b++)
        {
            var text = ((char)b).ToString();
            var ids = tokenizer.Encode(text, addSpecial: false);
            Assert.Equal(text, tokenizer.Decode(ids));
        }
        // Emoji and CJK are not in the corpus: they fall back to their UTF-8 bytes.
        var emoji = tokenizer.Encode("🙂", addSpecial: false);
        Assert.Equal(Encoding.UTF8.GetBytes("🙂").Select(vocab.ByteTokenId), emoji);
    }

    [Fact]
    public void Encode_UsesLearnedPiecesForCommonWords()
    {
        var tokenizer = new SpmTokenizer(SpmTokenizerTrainer.Default(512));

        var ids = tokenizer.Encode("the model and the adapter", addSpecial: false);

        Assert.True(ids.Count <= 8, $"{ids.Count} tokens");
    }
}
