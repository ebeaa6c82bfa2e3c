using System.Text.Json.Serialization;

namespace Serve.Server.OpenAi;

/// <summary>A non-streamed chat completion (object "chat.completion").</summary>
internal sealed record ChatCompletionResponse(
    string Id,
    long Created,
    string Model,
    string SystemFingerprint,
    IReadOnlyList<ChatChoice> Choices,
    Usage Usage)
{
    public string Object => "chat.completion";
}

internal sealed record ChatChoice(int Index, ChatResponseMessage Message, ChatLogprobs? Logprobs, string FinishReason);

internal sealed record ChatResponseMessage(
    string Role,
    string? Content,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<ToolCallView>? ToolCalls = null)
{
    public string? Refusal => null;
}

/// <summary>Chat logprobs: one entry per generated token.</summary>
internal sealed record ChatLogprobs(IReadOnlyList<ChatTokenLogprob> Content)
{
    public IReadOnlyList<ChatTokenLogprob>? Refusal => null;
}

internal sealed record ChatTokenLogprob(string Token, float Logprob, IReadOnlyList<int> Bytes, IReadOnlyList<ChatTopLogprob> TopLogprobs);

internal sealed record ChatTopLogprob(string Token, float Logprob, IReadOnlyList<int> Bytes);

/// <summary>Token counts; cached_tokens are prompt tokens whose KV came from the prefix cache.</summary>
internal sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens, PromptTokensDetails PromptTokensDetails);

internal sealed record PromptTokensDetails(int CachedTokens);

/// <summary>One SSE event of a streamed chat completion (object "chat.completion.chunk").</summary>
internal sealed record ChatCompletionChunk(
    string Id,
    long Created,
    string Model,
    string SystemFingerprint,
    IReadOnlyList<ChatChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage = null)
{
    public string Object => "chat.completion.chunk";
}

internal sealed record ChatChunkChoice(int Index, ChatDelta Delta, ChatLogprobs? Logprobs, string? FinishReason);

internal sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<ToolCallDelta>? ToolCalls = null);

/// <summary>A call in a whole response: arguments is the JSON text the model wrote.</summary>
internal sealed record ToolCallView(string Id, FunctionCallView Function)
{
    public string Type => "function";
}

internal sealed record FunctionCallView(string Name, string Arguments);

/// <summary>
/// A streamed piece of a call, as OpenAI streams them: the first for a call has index, id, type and function.name
/// (arguments ""), the next ones only index and an arguments fragment.
/// </summary>
internal sealed record ToolCallDelta(
    int Index,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Id,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Type,
    FunctionCallDelta Function);

internal sealed record FunctionCallDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name,
    string Arguments);
