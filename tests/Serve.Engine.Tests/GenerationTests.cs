namespace Serve.Engine.Tests;

[Collection(EngineCollection.Name)]
public sealed class GenerationTests(EngineFixture fixture)
{
    [Fact]
    public async Task Generate_Greedy_IsDeterministicAndCountsUsage()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var first = await engine.CollectAsync(Generation.Chat("Tell me about the market.", maxTokens: 12));
        var second = await engine.CollectAsync(Generation.Chat("Tell me about the market.", maxTokens: 12));

        Assert.Equal(first.Text, second.Text);
        Assert.NotEmpty(first.Text);
        Assert.Equal(FinishReason.Length, first.Completed.Reason);
        Assert.Equal(12, first.Completed.CompletionTokens);
        Assert.Equal(12, first.Deltas.Sum(d => d.TokenCount));
        var prompt = engine.CountTokens(engine.FormatChat([new("system", "You are a careful assistant."), new("user", "Tell me about the market.")]));
        Assert.Equal(prompt, first.Completed.PromptTokens);
        Assert.True(first.Started.Adapters.IsBase);
    }

    [Fact]
    public async Task Generate_MessagesUseTheModelsChatTemplate()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var text = engine.FormatChat([new("user", "hi")]);
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", text);
        var viaMessages = await engine.CollectAsync(new GenerationRequest { Messages = [new("user", "hi")], MaxTokens = 8, Sampling = new() { Temperature = 0 }, IgnoreEos = true });
        var viaPrompt = await engine.CollectAsync(new GenerationRequest { Prompt = text, MaxTokens = 8, Sampling = new() { Temperature = 0 }, IgnoreEos = true });
        Assert.Equal(viaPrompt.Text, viaMessages.Text);
    }

    [Fact]
    public async Task Generate_EndOfTurnToken_FinishesWithStop()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        using var vocabOnly = Serve.Llama.LlamaModel.Load(fixture.ModelPath, new Serve.Llama.LlamaModelOptions { VocabOnly = true });
        var eot = vocabOnly.Vocab.Eot;
        var result = await engine.CollectAsync(Generation.Chat("hello") with
        {
            IgnoreEos = false,
            Sampling = new SamplingOptions { Temperature = 0, LogitBias = new Dictionary<int, float> { [eot] = 100 } },
        });
        Assert.Equal(FinishReason.Stop, result.Completed.Reason);
        Assert.Equal("", result.Text);
        Assert.Equal(1, result.Completed.CompletionTokens);
    }

    [Fact]
    public async Task Generate_StopString_CutsTheTextBeforeIt()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var free = await engine.CollectAsync(Generation.Chat("Write a few words.", maxTokens: 24));
        Assert.True(free.Text.Length > 6, free.Text);
        var stop = free.Text.Substring(3, 3);
        var cut = await engine.CollectAsync(Generation.Chat("Write a few words.", maxTokens: 24) with { Stop = [stop] });

        Assert.Equal(FinishReason.Stop, cut.Completed.Reason);
        Assert.Equal(free.Text[..free.Text.IndexOf(stop, StringComparison.Ordinal)], cut.Text);
        Assert.DoesNotContain(stop, cut.Text);
    }

    [Fact]
    public async Task Generate_Grammar_ConstrainsTheOutput()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var result = await engine.CollectAsync(Generation.Chat("Answer yes or no.", maxTokens: 20) with
        {
            IgnoreEos = false,
            Sampling = new SamplingOptions { Temperature = 0.8f, Seed = 7, Grammar = "root ::= (\"yes\" | \"no\") \" please\"" },
        });
        Assert.Contains(result.Text, new[] { "yes please", "no please" });
        Assert.Equal(FinishReason.Stop, result.Completed.Reason);
    }

    [Fact]
    public async Task Generate_Seed_ReproducesSampledText()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var request = Generation.Chat("Tell a story.", maxTokens: 16, temperature: 1f) with { Sampling = new SamplingOptions { Temperature = 1f, Seed = 1234, TopP = 0.95f } };
        var a = await engine.CollectAsync(request);
        var b = await engine.CollectAsync(request);
        var c = await engine.CollectAsync(request with { Sampling = request.Sampling with { Seed = 99 } });
        Assert.Equal(a.Text, b.Text);
        Assert.NotEqual(a.Text, c.Text);
    }

    [Fact]
    public async Task Generate_Logprobs_AreNormalisedAndSortedAlternatives()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var result = await engine.CollectAsync(Generation.Chat("hi", maxTokens: 5) with { Logprobs = true, TopLogprobs = 3 });
        var logprobs = result.Deltas.Where(d => d.Logprobs is not null).SelectMany(d => d.Logprobs!).ToList();
        Assert.Equal(5, logprobs.Count);
        foreach (var lp in logprobs)
        {
            Assert.True(lp.Logprob <= 0);
            Assert.Equal(3, lp.TopLogprobs.Count);
            Assert.True(lp.TopLogprobs[0].Logprob >= lp.TopLogprobs[1].Logprob && lp.TopLogprobs[1].Logprob >= lp.TopLogprobs[2].Logprob);
            // Greedy: the chosen token is the most likely one.
            Assert.Equal(lp.TopLogprobs[0].Logprob, lp.Logprob, 5);
        }
    }

    [Theory]
    [InlineData("temperature")]
    [InlineData("top_p")]
    [InlineData("max_tokens")]
    [InlineData("top_logprobs")]
    [InlineData("logit_bias")]
    [InlineData("stop")]
    [InlineData("grammar")]
    [InlineData("messages")]
    [InlineData("adapters")]
    public async Task Generate_InvalidRequest_ThrowsBeforeQueueingWithTheParam(string param)
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var request = Generation.Chat("hi");
        request = param switch
        {
            "temperature" => request with { Sampling = new() { Temperature = -1 } },
            "top_p" => request with { Sampling = new() { TopP = 0 } },
            "max_tokens" => request with { MaxTokens = 0 },
            "top_logprobs" => request with { TopLogprobs = 2 },
            "logit_bias" => request with { Sampling = new() { LogitBias = new Dictionary<int, float> { [100000] = 1 } } },
            "stop" => request with { Stop = [""] },
            "grammar" => request with { Sampling = new() { Grammar = "root ::= (" } },
            "messages" => request with { Messages = [] },
            "adapters" => request with { Adapters = [new("a"), new("a")] },
            _ => throw new ArgumentOutOfRangeException(nameof(param)),
        };
        var e = await Assert.ThrowsAsync<InvalidGenerationRequestException>(() => engine.CollectAsync(request));
        Assert.Equal(param, e.Param);
        Assert.Equal(0, engine.Status.Running + engine.Status.Waiting);
    }

    [Fact]
    public async Task Generate_TooLong_ThrowsContextLengthExceeded()
    {
        using var engine = InferenceEngine.Start(fixture.Options() with { ContextPerSequence = 64 });
        var e = await Assert.ThrowsAsync<ContextLengthExceededException>(() => engine.CollectAsync(Generation.Chat(string.Join(' ', Enumerable.Repeat("word", 100)))));
        Assert.Equal(64, e.Limit);
        var fits = Generation.Chat("hi");
        var prompt = engine.CountTokens(engine.FormatChat(fits.Messages!));
        await Assert.ThrowsAsync<ContextLengthExceededException>(() => engine.CollectAsync(fits with { MaxTokens = 64 - prompt + 1 }));
        var result = await engine.CollectAsync(fits with { MaxTokens = 64 - prompt });
        Assert.Equal(64 - prompt, result.Completed.CompletionTokens);
    }

    [Fact]
    public void ContextPerSequence_Unset_IsTheModelsTrainingContext_AtMost2048()
    {
        // The fixture's model was made with a 1024-token training context.
        using (var engine = InferenceEngine.Start(fixture.Options() with { ContextPerSequence = null }))
        {
            Assert.Equal(1024, engine.Options.ContextPerSequence);
            Assert.Equal(1024, engine.BaseModel.ContextPerSequence);
        }
        var longModel = Serve.Models.ModelMaker.BuildTestModel(fixture.Directory, new Serve.Models.LlamaModelSpec { ContextLength = 8192, Name = "long-context" });
        using var wide = InferenceEngine.Start(fixture.Options() with { ModelPath = longModel, ContextPerSequence = null, MaxSequences = 2, AdaptersDirectory = null });
        Assert.Equal(EngineOptions.DefaultContextPerSequence, wide.Options.ContextPerSequence);
    }

    [Fact]
    public async Task Prepare_TokenizesOnce_AndGeneratingThePreparedRequestDoesNotTokenizeAgain()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var request = Generation.Chat("Tell me about the market.", maxTokens: 4);

        var before = engine.Tokenizations;
        var prepared = engine.Prepare(request);
        Assert.Equal(before + 1, engine.Tokenizations);
        Assert.Equal(4, prepared.MaxTokens);
        before = engine.Tokenizations;
        GenerationCompleted? completed = null;
        await foreach (var update in engine.GenerateAsync(prepared))
            if (update is GenerationCompleted c) completed = c;
        Assert.Equal(before, engine.Tokenizations);
        Assert.Equal(prepared.PromptTokens, completed!.PromptTokens);
        Assert.Equal(4, completed.CompletionTokens);

        // Unprepared, GenerateAsync prepares it itself: once as well.
        before = engine.Tokenizations;
        await engine.CollectAsync(request);
        Assert.Equal(before + 1, engine.Tokenizations);

        // The cheap rules come first: a request they refuse is never tokenized. top_logprobs given at all needs logprobs.
        before = engine.Tokenizations;
        Assert.Equal("n", Assert.Throws<InvalidGenerationRequestException>(() => engine.Prepare(request with { Choices = 0 })).Param);
        Assert.Equal("top_logprobs", Assert.Throws<InvalidGenerationRequestException>(() => engine.Prepare(request with { TopLogprobs = 0 })).Param);
        Assert.Equal("adapters[0].name", Assert.Throws<InvalidGenerationRequestException>(() => engine.Prepare(request with { Adapters = [new("")] })).Param);
        Assert.Equal(before, engine.Tokenizations);
    }

    [Fact]
    public async Task Generate_UnknownAdapter_ThrowsNotFound()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var e = await Assert.ThrowsAsync<AdapterNotFoundException>(() => engine.CollectAsync(Generation.Chat("hi", adapter: "nope")));
        Assert.Equal("nope", e.Name);
    }

    [Fact]
    public void Start_MissingModel_ThrowsWithThePath()
    {
        var e = Assert.Throws<FileNotFoundException>(() => InferenceEngine.Start(fixture.Options() with { ModelPath = "/nonexistent/model.gguf" }));
        Assert.Contains("/nonexistent/model.gguf", e.Message);
    }

    [Fact]
    public void Start_BatchSmallerThanSequences_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => InferenceEngine.Start(fixture.Options() with { MaxSequences = 8, BatchSize = 4 }));
        Assert.Contains("BatchSize", e.Message);
    }

    [Fact]
    public void Start_NoPrefillWhileDecoding_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => InferenceEngine.Start(fixture.Options() with { PrefillTokensWhileDecoding = 0 }));
        Assert.Contains("PrefillTokensWhileDecoding", e.Message);
    }
}
