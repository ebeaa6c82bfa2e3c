namespace Serve.Engine;

/// <summary>One chat turn; Role is system, user, assistant (or tool), as the chat template expects.</summary>
public sealed record ChatMessage(string Role, string Content);
