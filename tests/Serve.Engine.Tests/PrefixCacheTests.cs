namespace Serve.Engine.Tests;

[Collection(EngineCollection.Name)]
public sealed class PrefixCacheTests(EngineFixture fixture)
{
    private static readonly string System = string.Join(' ', Enumerable.Repeat("You answer questions about the market and the seasons with care.", 6));

    private static GenerationRequest Ask(string question, string? adapter = null) => new()
    {
        Messages = [new ChatMessage("system", System), new ChatMessage("user", question)],
        Adapters = adapter is null ? [] : [new AdapterWeight(adapter)],
        MaxTokens = 8,
        Sampling = new SamplingOptions { Temperature = 0 },
        IgnoreEos = true,
    };

    [Fact]
    public async Task SharedPrefix_IsReused_AndGivesTheSameTokens()
    {
        using var cached = InferenceEngine.Start(fixture.Options());
        using var uncached = InferenceEngine.Start(fixture.Options() with { PrefixCache = false });

        var first = await cached.CollectAsync(Ask("Where is the market?"));
        var second = await cached.CollectAsync(Ask("When does spring start?"));
        Assert.Equal(0, first.Completed.CachedPromptTokens);
        Assert.True(second.Completed.CachedPromptTokens > 60, $"{second.Completed.CachedPromptTokens} cached tokens");
        Assert.True(second.Completed.CachedPromptTokens < second.Completed.PromptTokens);

        var reference = await uncached.CollectAsync(Ask("When does spring start?"));
        Assert.Equal(reference.Text, second.Text);
        Assert.Equal(0, reference.Completed.CachedPromptTokens);

        // Identical prompt: everything but the last token is reused.
        var again = await cached.CollectAsync(Ask("When does spring start?"));
        Assert.Equal(again.Completed.PromptTokens - 1, again.Completed.CachedPromptTokens);
        Assert.Equal(reference.Text, again.Text);
    }

    [Fact]
    public async Task BothKvLayouts_ReusePrefixes_AndGiveTheSameTokens()
    {
        // Separate streams (the default) copy a reused prefix into the sequence's own stream; a unified cache shares
        // the cells. Concurrent sequences decode in one batch either way.
        using var separate = InferenceEngine.Start(fixture.Options());
        using var unified = InferenceEngine.Start(fixture.Options() with { KvUnified = true });
        using var uncached = InferenceEngine.Start(fixture.Options() with { PrefixCache = false });
        string[] questions = ["Where is the market?", "When does spring start?", "Who sells apples?"];

        var references = new List<string>();
        foreach (var q in questions) references.Add((await uncached.CollectAsync(Ask(q))).Text);
        await separate.CollectAsync(Ask("What grows in autumn?"));
        var concurrent = await Task.WhenAll(questions.Select(q => separate.CollectAsync(Ask(q))));

        Assert.Equal(references, concurrent.Select(r => r.Text));
        Assert.All(concurrent, r => Assert.True(r.Completed.CachedPromptTokens > 60, $"{r.Completed.CachedPromptTokens} cached tokens"));

        await unified.CollectAsync(Ask("What grows in autumn?"));
        var shared = await Task.WhenAll(questions.Select(q => unified.CollectAsync(Ask(q))));
        Assert.Equal(references, shared.Select(r => r.Text));
        Assert.All(shared, r => Assert.True(r.Completed.CachedPromptTokens > 60, $"{r.Completed.CachedPromptTokens} cached tokens"));
    }

    [Fact]
    public async Task Prefix_IsNeverSharedAcrossAdapterConfigurations()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        await engine.CollectAsync(Ask("Where is the market?"));
        var withA = await engine.CollectAsync(Ask("Where is the market?", "a"));
        Assert.Equal(0, withA.Completed.CachedPromptTokens);
        var withB = await engine.CollectAsync(Ask("Where is the market?", "b"));
        Assert.Equal(0, withB.Completed.CachedPromptTokens);
        var withAAgain = await engine.CollectAsync(Ask("Where is the market?", "a"));
        Assert.True(withAAgain.Completed.CachedPromptTokens > 0);
        Assert.Equal(withA.Text, withAAgain.Text);

        // A scale is part of the configuration too.
        var half = await engine.CollectAsync(Ask("Where is the market?") with { Adapters = [new AdapterWeight("a", 0.5f)] });
        Assert.Equal(0, half.Completed.CachedPromptTokens);
    }

    [Fact]
    public async Task RunningSequence_SharesItsPrefixWithANewOne()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var longOne = engine.CollectAsync(Ask("Tell me everything.") with { MaxTokens = 150 });
        await BatchingTests.WaitUntil(() => engine.Status.GeneratedTokens >= 2);
        var other = await engine.CollectAsync(Ask("And briefly?"));
        Assert.True(other.Completed.CachedPromptTokens > 60);
        await longOne;
    }
}
