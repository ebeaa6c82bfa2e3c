namespace Serve.Templates;

/// <summary>A call the assistant made: Arguments is the JSON object text, as OpenAI's API carries it.</summary>
public sealed record ChatToolCall(string Id, string Name, string Arguments);

/// <summary>
/// One chat message as a template sees it: role system, user, assistant or tool; Content may be null for an
/// assistant turn that only calls tools; ToolCallId names the call a tool message answers.
/// </summary>
public sealed record ChatTurn(string Role, string? Content, IReadOnlyList<ChatToolCall>? ToolCalls = null, string? ToolCallId = null, string? Name = null);

/// <summary>A function the model may call: Parameters is its JSON schema text (null for none).</summary>
public sealed record ChatTool(string Name, string? Description, string? Parameters);
