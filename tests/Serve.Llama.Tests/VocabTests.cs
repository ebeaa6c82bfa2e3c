using Serve.Llama.Native;

namespace Serve.Llama.Tests;

[Collection(LlamaModelCollection.Name)]
public sealed class VocabTests(LlamaModelFixture fixture)
{
    private readonly LlamaVocab _vocab = fixture.Model.Vocab;

    [Theory]
    [InlineData("Hello world")]
    [InlineData("Crème brûlée, naïve café, Ærøskøbing")]
    [InlineData("中文字符 和 日本語のテキスト")]
    [InlineData("emoji 🙂🚀 and 👩‍💻 zwj")]
    [InlineData("  spaces   runs \t tabs\t\tand\nnew\n\nlines  ")]
    [InlineData("mixed: é 中 🙂 \t\n end")]
    public void TokenizeDetokenize_MixedText_RoundTrips(string text)
    {
        var tokens = _vocab.Tokenize(text, addSpecial: false, parseSpecial: false);
        Assert.NotEmpty(tokens);
        Assert.Equal(text, _vocab.Detokenize(tokens));
    }

    [Fact]
    public void TokenToPiece_ConcatenatedBytes_EqualUtf8OfText()
    {
        const string text = "naïve 🙂 中文";
        var tokens = _vocab.Tokenize(text, false, false);
        var bytes = tokens.SelectMany(t => _vocab.TokenToPiece(t)).ToArray();
        Assert.Equal(text, System.Text.Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public void TokenTextDecoder_StreamingTokens_RebuildsText()
    {
        const string text = "streaming 🙂 émoji 中文 text";
        var tokens = _vocab.Tokenize(text, false, false);
        var decoder = new TokenTextDecoder(_vocab);
        var output = string.Concat(tokens.Select(decoder.Append)) + decoder.Flush();
        Assert.Equal(text, output);
        Assert.DoesNotContain('\uFFFD', output);
    }

    [Fact]
    public void Tokenize_AddSpecial_PrependsBos()
    {
        var tokens = _vocab.Tokenize("hi", addSpecial: true, parseSpecial: false);
        Assert.True(_vocab.AddBos);
        Assert.Equal(_vocab.Bos, tokens[0]);
        Assert.Equal("hi", _vocab.Detokenize(tokens, removeSpecial: true));
    }

    [Fact]
    public void Tokenize_SpecialText_ParsedOnlyWithParseSpecial()
    {
        const string text = "<|im_start|>user\nhi<|im_end|>";
        var imEnd = _vocab.Tokenize("<|im_end|>", false, parseSpecial: true);
        var end = Assert.Single(imEnd);

        var parsed = _vocab.Tokenize(text, false, parseSpecial: true);
        var plain = _vocab.Tokenize(text, false, parseSpecial: false);
        Assert.Contains(end, parsed);
        Assert.DoesNotContain(end, plain);
        Assert.True(plain.Length > parsed.Length);
        Assert.Equal(text, _vocab.Detokenize(parsed, unparseSpecial: true));
    }

    [Fact]
    public void SpecialTokens_ChatmlModel_AreControlAndEog()
    {
        var imEnd = Assert.Single(_vocab.Tokenize("<|im_end|>", false, true));
        Assert.True(_vocab.IsEog(imEnd));
        Assert.True(_vocab.IsEog(_vocab.Eos));
        Assert.True(_vocab.IsControl(_vocab.Bos));
        Assert.Equal(imEnd, _vocab.Eot);
        Assert.Equal("<s>", _vocab.GetText(_vocab.Bos));
        Assert.Equal("</s>", _vocab.GetText(_vocab.Eos));
        Assert.True(_vocab.GetAttr(_vocab.Bos).HasFlag(LlamaTokenAttr.Control));
        Assert.Empty(_vocab.TokenToPiece(_vocab.Bos, special: false));
        Assert.Equal("<s>", _vocab.TokenToString(_vocab.Bos, special: true));
        Assert.Equal(LlamaVocabType.Spm, _vocab.Type);
        Assert.Equal(512, _vocab.Count);
    }

    [Fact]
    public void TokenToPiece_SmallBuffer_ReturnsNegativeNeededSize()
    {
        var token = _vocab.Tokenize("<|im_start|>", false, true)[0];
        var needed = _vocab.TokenToPiece(token, Span<byte>.Empty, special: true);
        Assert.Equal(-"<|im_start|>".Length, needed);
    }

    [Fact]
    public void TokenIds_OutOfRange_ThrowInsteadOfAborting()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _vocab.GetText(_vocab.Count));
        Assert.Throws<ArgumentOutOfRangeException>(() => _vocab.TokenToPiece(-5));
        Assert.Throws<ArgumentOutOfRangeException>(() => _vocab.Detokenize([1, 99999]));
        Assert.False(_vocab.IsEog(-1));
    }

    [Fact]
    public void Tokenize_LongText_GrowsBuffer()
    {
        var text = string.Concat(Enumerable.Repeat("abc 🙂 ", 2000));
        var tokens = _vocab.Tokenize(text, true, false);
        Assert.Equal(text, _vocab.Detokenize(tokens, removeSpecial: true));
        Assert.Equal("", _vocab.Detokenize([]));
        Assert.Empty(_vocab.Tokenize("", false, false));
    }
}
