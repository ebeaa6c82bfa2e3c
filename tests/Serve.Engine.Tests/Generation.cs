using System.Diagnostics;
using System.Text;

namespace Serve.Engine.Tests;

/// <summary>A finished generation as the tests see it.</summary>
public sealed record GenerationResult(string Text, GenerationStarted Started, GenerationCompleted Completed, IReadOnlyList<GenerationDelta> Deltas, IReadOnlyList<long> TokenTimes);

public static class Generation
{
    public static GenerationRequest Chat(string user, string? adapter = null, int maxTokens = 16, float temperature = 0f) => new()
    {
        Messages = [new ChatMessage("system", "You are a careful assistant."), new ChatMessage("user", user)],
        Adapters = adapter is null ? [] : [new AdapterWeight(adapter)],
        MaxTokens = maxTokens,
        Sampling = new SamplingOptions { Temperature = temperature },
        IgnoreEos = true,
    };

    public static async Task<GenerationResult> CollectAsync(this InferenceEngine engine, GenerationRequest request, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        GenerationStarted? started = null;
        GenerationCompleted? completed = null;
        var deltas = new List<GenerationDelta>();
        var times = new List<long>();
        await foreach (var update in engine.GenerateAsync(request, cancellationToken))
        {
            switch (update)
            {
                case GenerationStarted s:
                    Assert.Null(started);
                    started = s;
                    break;
                case GenerationDelta d:
                    Assert.NotNull(started);
                    Assert.Null(completed);
                    deltas.Add(d);
                    text.Append(d.Text);
                    if (d.TokenCount > 0) times.Add(Stopwatch.GetTimestamp());
                    break;
                case GenerationCompleted c:
                    Assert.Null(completed);
                    completed = c;
                    break;
            }
        }
        Assert.NotNull(started);
        Assert.NotNull(completed);
        return new GenerationResult(text.ToString(), started, completed, deltas, times);
    }
}
