using Serve.Engine;

namespace Serve.Server.OpenAi;

/// <summary>The parts every response shares: ids, timestamps, fingerprint, usage and the logprob shapes.</summary>
internal static class ResponseFactory
{
    public static string ChatId() => "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];
    public static string CompletionId() => "cmpl-" + Guid.NewGuid().ToString("N")[..24];
    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>The base model's hash prefix: same weights, same fingerprint.</summary>
    public static string Fingerprint(InferenceEngine engine) => "fp_" + engine.BaseModel.Sha256[..Math.Min(10, engine.BaseModel.Sha256.Length)];

    public static string FinishReason(FinishReason reason) => reason == Serve.Engine.FinishReason.Length ? "length" : "stop";

    public static Usage Usage(GenerationCompleted c) =>
        new(c.PromptTokens, c.CompletionTokens, c.PromptTokens + c.CompletionTokens, new PromptTokensDetails(c.CachedPromptTokens));

    public static ChatTokenLogprob ChatLogprob(TokenLogprob t) =>
        new(t.Token, t.Logprob, Bytes(t.Bytes), [.. t.TopLogprobs.Select(a => new ChatTopLogprob(a.Token, a.Logprob, Bytes(a.Bytes)))]);

    /// <summary>Legacy completions logprobs for tokens starting at text offset <paramref name="offset"/>.</summary>
    public static CompletionLogprobs CompletionLogprobs(IReadOnlyList<TokenLogprob> tokens, int offset)
    {
        var offsets = new List<int>(tokens.Count);
        foreach (var t in tokens)
        {
            offsets.Add(offset);
            offset += t.Token.Length;
        }
        return new CompletionLogprobs(
            [.. tokens.Select(t => t.Token)],
            [.. tokens.Select(t => t.Logprob)],
            [.. tokens.Select(t =>
            {
                var top = new Dictionary<string, float>(StringComparer.Ordinal);
                foreach (var a in t.TopLogprobs) top.TryAdd(a.Token, a.Logprob);
                return top;
            })],
            offsets);
    }

    private static int[] Bytes(byte[] bytes) => [.. bytes.Select(b => (int)b)];
}
