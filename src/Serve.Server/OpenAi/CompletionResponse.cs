using System.Text.Json.Serialization;

namespace Serve.Server.OpenAi;

/// <summary>A text completion, whole or one streamed chunk (object "text_completion" in both, as OpenAI sends it).</summary>
internal sealed record CompletionResponse(
    string Id,
    long Created,
    string Model,
    string SystemFingerprint,
    IReadOnlyList<CompletionChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage)
{
    public string Object => "text_completion";
}

internal sealed record CompletionChoice(string Text, int Index, CompletionLogprobs? Logprobs, string? FinishReason);

/// <summary>Legacy logprobs: parallel arrays, top_logprobs maps token text to its log-probability.</summary>
internal sealed record CompletionLogprobs(
    IReadOnlyList<string> Tokens,
    IReadOnlyList<float> TokenLogprobs,
    IReadOnlyList<Dictionary<string, float>> TopLogprobs,
    IReadOnlyList<int> TextOffset);
