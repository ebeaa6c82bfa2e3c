using System.Text;

namespace Serve.Engine.Tests;

/// <summary>n > 1 choices: one prefill, the prompt's KV copied to each choice's sequence, each choice sampled on its own.</summary>
[Collection(EngineCollection.Name)]
public sealed class ChoicesTests(EngineFixture fixture)
{
    private sealed record ChoicesResult(GenerationStarted Started, string[] Texts, GenerationCompleted[] Completed);

    private static async Task<ChoicesResult> CollectChoicesAsync(InferenceEngine engine, GenerationRequest request, CancellationToken cancellationToken = default)
    {
        var texts = Enumerable.Range(0, request.Choices).Select(_ => new StringBuilder()).ToArray();
        var completed = new GenerationCompleted?[request.Choices];
        GenerationStarted? started = null;
        await foreach (var update in engine.GenerateAsync(request, cancellationToken))
        {
            switch (update)
            {
                case GenerationStarted s:
                    Assert.Null(started);
                    started = s;
                    break;
                case GenerationDelta d:
                    Assert.Null(completed[d.Choice]);
                    texts[d.Choice].Append(d.Text);
                    break;
                case GenerationCompleted c:
                    Assert.Null(completed[c.Choice]);
                    completed[c.Choice] = c;
                    break;
            }
        }
        Assert.NotNull(started);
        Assert.All(completed, Assert.NotNull);
        return new ChoicesResult(started, [.. texts.Select(t => t.ToString())], [.. completed.Select(c => c!)]);
    }

    [Fact]
    public async Task ThreeChoices_Greedy_AreEqualAndPrefillThePromptOnce()
    {
        using var engine = InferenceEngine.Start(fixture.Options() with { PrefixCache = false });
        var request = Generation.Chat("Tell me a short story.", maxTokens: 12) with { Choices = 3 };
        var single = await engine.CollectAsync(request with { Choices = 1 });
        var before = engine.Status.PrefillTokens;

        var result = await CollectChoicesAsync(engine, request);

        Assert.Equal(single.Started.PromptTokens, engine.Status.PrefillTokens - before);
        Assert.All(result.Texts, t => Assert.Equal(single.Text, t));
        Assert.All(result.Completed, c => Assert.Equal(12, c.CompletionTokens));
        Assert.All(result.Completed, c => Assert.Equal(single.Started.PromptTokens, c.PromptTokens));
        Assert.Equal([0, 1, 2], result.Completed.Select(c => c.Choice));
        Assert.Equal(0, engine.Status.Running);
    }

    [Fact]
    public async Task SeparateKvStreams_ChoicesCopyThePromptStream_AndMatchUnified()
    {
        // Without a unified KV cache a choice gets the prompt's KV as a whole-stream copy, trimmed to the prompt.
        using var separate = InferenceEngine.Start(fixture.Options() with { KvUnified = false, PrefixCache = false });
        using var unified = InferenceEngine.Start(fixture.Options() with { KvUnified = true, PrefixCache = false });
        var request = Generation.Chat("Tell me a short story.", maxTokens: 10) with { Choices = 3 };
        var reference = await unified.CollectAsync(request with { Choices = 1 });

        var result = await CollectChoicesAsync(separate, request);

        Assert.All(result.Texts, t => Assert.Equal(reference.Text, t));
        Assert.Equal(reference.Started.PromptTokens, separate.Status.PrefillTokens);
    }

    [Fact]
    public async Task TwoChoices_Seeded_EachIsReproducibleAndUsesSeedPlusIndex()
    {
        using var engine = InferenceEngine.Start(fixture.Options() with { PrefixCache = false });
        var request = Generation.Chat("Describe the river.", maxTokens: 16, temperature: 1.5f) with
        {
            Choices = 2,
            Sampling = new SamplingOptions { Temperature = 1.5f, Seed = 1234 },
        };

        var first = await CollectChoicesAsync(engine, request);
        var second = await CollectChoicesAsync(engine, request);
        var seedPlusOne = await engine.CollectAsync(request with { Choices = 1, Sampling = request.Sampling with { Seed = 1235 } });
        var seedAlone = await engine.CollectAsync(request with { Choices = 1 });

        Assert.Equal(first.Texts, second.Texts);
        Assert.Equal(seedAlone.Text, first.Texts[0]);
        Assert.Equal(seedPlusOne.Text, first.Texts[1]);
        Assert.NotEqual(first.Texts[0], first.Texts[1]);
    }

    [Fact]
    public async Task Choices_BeyondMaxChoicesOrMaxSequences_AreRefused()
    {
        using var engine = InferenceEngine.Start(fixture.Options() with { MaxChoices = 4, MaxSequences = 3 });

        var tooMany = await Assert.ThrowsAsync<InvalidGenerationRequestException>(() => engine.CollectAsync(Generation.Chat("Hi") with { Choices = 5 }));
        Assert.Equal("n", tooMany.Param);
        Assert.Contains("4", tooMany.Message);
        var none = await Assert.ThrowsAsync<InvalidGenerationRequestException>(() => engine.CollectAsync(Generation.Chat("Hi") with { Choices = 0 }));
        Assert.Equal("n", none.Param);
        var beyondSequences = await Assert.ThrowsAsync<InvalidGenerationRequestException>(() => engine.CollectAsync(Generation.Chat("Hi") with { Choices = 4 }));
        Assert.Contains("MaxSequences", beyondSequences.Message);
        Assert.Throws<ArgumentException>(() => InferenceEngine.Start(fixture.Options() with { MaxChoices = 0 }));
    }

    [Fact]
    public async Task Cancelling_EndsEveryChoice_AndFreesTheirSequences()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        using var cts = new CancellationTokenSource();
        var request = Generation.Chat("Count to five.", maxTokens: 400) with { Choices = 3 };
        var seen = new HashSet<int>();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in engine.GenerateAsync(request, cts.Token))
            {
                if (update is GenerationDelta d) seen.Add(d.Choice);
                if (seen.Count == 3) cts.Cancel();
            }
        });

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (engine.Status.Running > 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(0, engine.Status.Running);
        Assert.True(engine.Status.GeneratedTokens < 3 * 400, "the choices kept generating after the cancel");
        // The engine still serves after the cancel.
        Assert.Equal(4, (await engine.CollectAsync(Generation.Chat("Hi", maxTokens: 4))).Completed.CompletionTokens);
    }

    [Fact]
    public async Task TwoChoices_WithAnAdapter_BothUseIt()
    {
        using var engine = InferenceEngine.Start(fixture.Options() with { PrefixCache = false });
        var request = Generation.Chat("Where is the market?", adapter: "a", maxTokens: 12) with { Choices = 2 };
        var alone = await engine.CollectAsync(request with { Choices = 1 });
        var baseModel = await engine.CollectAsync(request with { Choices = 1, Adapters = [] });

        var result = await CollectChoicesAsync(engine, request);

        Assert.NotEqual(baseModel.Text, alone.Text);
        Assert.All(result.Texts, t => Assert.Equal(alone.Text, t));
        Assert.Equal(alone.Started.Adapters.Key, result.Started.Adapters.Key);
        Assert.All(engine.Adapters.List(), a => Assert.Equal(0, a.ActiveSequences));
    }
}
