namespace Serve.Llama.Tests;

[Collection(LlamaModelCollection.Name)]
public sealed class SamplerTests(LlamaModelFixture fixture)
{
    [Fact]
    public void Grammar_Generation_ProducesOnlyGrammarValidText()
    {
        const string gbnf = """
            root ::= "yes" | "no" | number
            number ::= [0-9] [0-9]? [0-9]?
            """;
        var vocab = fixture.Model.Vocab;
        using var context = fixture.CreateContext();
        using var sampler = new LlamaSamplerChain().Grammar(fixture.Model, gbnf).Temperature(1.5f).Dist(7);
        var prompt = vocab.Tokenize("Answer:", true, false);
        var generated = new List<int>();
        context.Memory.Clear();
        using var batch = new LlamaBatch(prompt.Length);
        batch.AddRange(prompt, 0, 0, true);
        context.Decode(batch);
        var index = prompt.Length - 1;
        for (var i = 0; i < 10; i++)
        {
            var token = sampler.Sample(context, index);
            if (vocab.IsEog(token)) break;
            generated.Add(token);
            batch.Clear();
            batch.Add(token, prompt.Length + i, 0, true);
            context.Decode(batch);
            index = 0;
        }
        var text = vocab.Detokenize(generated.ToArray()).Trim();
        Assert.Matches("^(yes|no|[0-9]{1,3})$", text);
    }

    [Fact]
    public void Grammar_Invalid_ThrowsWithNativeMessage()
    {
        using var chain = new LlamaSamplerChain();
        var ex = Assert.Throws<LlamaException>(() => chain.Grammar(fixture.Model, "root ::= \"unterminated"));
        Assert.Contains("Invalid GBNF grammar", ex.Message);
        Assert.Contains("parse", ex.Message);
        var missingRoot = Assert.Throws<LlamaException>(() => chain.Grammar(fixture.Model, "start ::= \"a\""));
        Assert.Contains("root", missingRoot.Message);
    }

    [Fact]
    public void Accept_TokenRejectedByGrammar_ThrowsInsteadOfAborting()
    {
        var vocab = fixture.Model.Vocab;
        using var chain = new LlamaSamplerChain().Grammar(fixture.Model, "root ::= \"yes\"").Greedy();
        Assert.Throws<ArgumentException>(() => chain.Accept(vocab.Eos));
        var x = vocab.Tokenize("x", false, false).Last();
        Assert.Throws<ArgumentException>(() => chain.Accept(x));
    }

    [Fact]
    public void LogitBias_LargeBias_ForcesToken()
    {
        var vocab = fixture.Model.Vocab;
        var forced = vocab.Tokenize("fox", false, false).Last();
        using var context = fixture.CreateContext();
        using var sampler = new LlamaSamplerChain().LogitBias(vocab.Count, [(forced, 1000f)]).Dist(3);
        var tokens = Decoding.Generate(context, sampler, vocab.Tokenize("Once", true, false), 5);
        Assert.All(tokens, t => Assert.Equal(forced, t));
    }

    [Fact]
    public void Dist_SameSeed_Repeats_DifferentSeedDiffers()
    {
        var vocab = fixture.Model.Vocab;
        var prompt = vocab.Tokenize("Once upon a time", true, false);
        using var context = fixture.CreateContext();
        List<int> Run(uint seed)
        {
            // High temperature on a random-weight model: the distribution is broad, so seeds matter.
            using var sampler = new LlamaSamplerChain().Temperature(2f).Dist(seed);
            return Decoding.Generate(context, sampler, prompt, 20);
        }
        var a = Run(42);
        Assert.Equal(a, Run(42));
        Assert.NotEqual(a, Run(43));
    }

    [Fact]
    public void Chain_AllFilters_SampleValidTokens()
    {
        var vocab = fixture.Model.Vocab;
        using var context = fixture.CreateContext();
        using var sampler = new LlamaSamplerChain(noPerf: false)
            .Penalties(vocab, 64, 1.1f, 0.1f, 0.1f)
            .TopK(40).Typical(0.95f).TopP(0.9f).MinP(0.05f).Temperature(0.8f).Dist(5);
        Assert.Equal(7, sampler.Count);
        Assert.Equal(5u, sampler.Seed);
        var tokens = Decoding.Generate(context, sampler, vocab.Tokenize("Hello", true, false), 10);
        Assert.All(tokens, t => Assert.InRange(t, 0, vocab.Count - 1));
        Assert.Equal(10, sampler.Performance.Samples);
    }

    [Fact]
    public void Sample_IndexWithoutOutput_Throws()
    {
        using var context = fixture.CreateContext();
        using var sampler = new LlamaSamplerChain().Greedy();
        Decoding.PromptLogits(context, [1, 2, 3]);
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(context, 0));
        Assert.InRange(sampler.Sample(context, 2), 0, fixture.Model.Vocab.Count - 1);
    }
}
