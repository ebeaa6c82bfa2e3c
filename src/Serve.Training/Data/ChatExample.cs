namespace Serve.Training.Data;

/// <summary>
/// One training example from the dataset, with the 1-based line it came from: a conversation (<see cref="Messages"/>,
/// from messages, ShareGPT, Alpaca or prompt/completion lines) or plain <see cref="Text"/> (Messages empty).
/// <see cref="Tools"/>, when present, holds per message what a (role, content) pair cannot: an assistant's tool_calls
/// and a tool message's tool_call_id/name, for a chat template that renders them.
/// </summary>
public sealed record ChatExample(int Line, IReadOnlyList<(string Role, string Content)> Messages)
{
    /// <summary>Plain text trained as a whole (no chat template); null for conversations.</summary>
    public string? Text { get; init; }

    /// <summary>Tool data aligned with <see cref="Messages"/> (null entries for plain messages); null when no message has any.</summary>
    public IReadOnlyList<MessageToolData?>? Tools { get; init; }

    /// <summary>Whether any message carries tool calls or is a tool result: rendering needs a template engine that knows tools.</summary>
    public bool UsesTools => Tools is not null && Tools.Any(t => t is not null);
}

/// <summary>
/// What OpenAI-style chat messages carry beyond role and content: <paramref name="ToolCallsJson"/> is the message's
/// <c>tool_calls</c> array as JSON text (assistant), <paramref name="ToolCallId"/> and <paramref name="Name"/> a tool
/// result's references.
/// </summary>
public sealed record MessageToolData(string? ToolCallsJson, string? ToolCallId, string? Name);
