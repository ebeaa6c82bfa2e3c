using System.Diagnostics;

namespace Serve.Engine.Bench;

internal sealed class EngineTarget(InferenceEngine engine) : IStreamTarget
{
    public async Task<(int Tokens, double Ttft)> StreamAsync(string question, string? adapter, int maxTokens, long start)
    {
        var request = new GenerationRequest
        {
            Messages = [new ChatMessage("user", question)],
            Adapters = adapter is null ? [] : [new AdapterWeight(adapter)],
            MaxTokens = maxTokens,
            IgnoreEos = true,
            Sampling = new SamplingOptions { Temperature = 0 },
        };
        double ttft = -1;
        var count = 0;
        await foreach (var update in engine.GenerateAsync(request))
        {
            if (update is not GenerationDelta { TokenCount: > 0 } delta) continue;
            if (ttft < 0) ttft = Stopwatch.GetElapsedTime(start).TotalSeconds;
            count += delta.TokenCount;
        }
        return (count, ttft);
    }
}
