using Serve.Llama;

namespace Serve.Models.Tests;

/// <summary>The managed SPM tokenizer must give llama.cpp's tokens, and llama.cpp must round-trip our vocabularies.</summary>
public class LlamaCppTokenizerAgreementTests
{
    private static readonly string[] MixedTexts =
    [
        "Hello world",
        "Héllo wörld! 🙂 naïve café — \"quotes\"\n\ttabs   and  runs of   spaces \n\n日本語 ok  ",
        " leading space", "trailing spaces   ", "   ", "\n", "a",
        "<s> and </s> and <|im_end|> and <0x41> stay text",
        "emoji 👩‍👩‍👧 family 🇫🇷 flag", "\u0001\u007f ctrl", "mixed\r\nline endings\r\n",
    ];

    [Theory]
    [InlineData(300)]
    [InlineData(512)]
    [InlineData(2000)]
    public void Tokenize_ManagedEqualsLlamaCpp_AndRoundTrips(int vocabSize)
    {
        using var dir = new TempDirectory();
        var path = ModelMaker.BuildTestModel(dir.Path, new LlamaModelSpec { VocabSize = vocabSize });
        using var model = LlamaModel.Load(path);
        var managed = new SpmTokenizer(SpmTokenizerTrainer.Default(vocabSize));

        var texts = MixedTexts.Concat(EmbeddedCorpus.Text.Split('\n').Where((_, i) => i % 7 == 0)).ToList();
        foreach (var text in texts)
        {
            var native = model.Vocab.Tokenize(text, addSpecial: true, parseSpecial: false);
            Assert.Equal(native, managed.Encode(text));
            Assert.Equal(text, model.Vocab.Detokenize(native, removeSpecial: true));
        }
    }

    [Fact]
    public void SpecialTokens_AreWhatLlamaCppExpects()
    {
        using var dir = new TempDirectory();
        using var model = LlamaModel.Load(ModelMaker.BuildTestModel(dir.Path));

        Assert.Equal(SpmVocabLayout.ImEndId, model.Vocab.Eot);
        Assert.True(model.Vocab.IsEog(SpmVocabLayout.ImEndId));
        Assert.True(model.Vocab.IsEog(SpmVocabLayout.EosId));
        Assert.False(model.Vocab.IsEog(SpmVocabLayout.ImStartId));
        Assert.Equal(
            [SpmVocabLayout.BosId, SpmVocabLayout.ImStartId],
            model.Vocab.Tokenize("<|im_start|>", addSpecial: true, parseSpecial: true));
    }
}
