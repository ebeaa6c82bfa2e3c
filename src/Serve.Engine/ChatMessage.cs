using Serve.Templates;

namespace Serve.Engine;

/// <summary>
/// One chat turn; Role is system, user, assistant or tool, as the chat template expects. An assistant turn may
/// carry ToolCalls (Content then often empty); a tool turn names the call it answers in ToolCallId.
/// </summary>
public sealed record ChatMessage(string Role, string Content, IReadOnlyList<ChatToolCall>? ToolCalls = null, string? ToolCallId = null, string? Name = null);
