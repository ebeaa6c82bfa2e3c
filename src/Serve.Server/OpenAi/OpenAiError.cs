namespace Serve.Server.OpenAi;

/// <summary>The body of every error under /v1 (and /admin): <c>{"error":{"message","type","param","code"}}</c>, as OpenAI sends it.</summary>
internal sealed record OpenAiErrorResponse(OpenAiError Error);

/// <summary>One error; param and code are written as null when unknown, as OpenAI does.</summary>
internal sealed record OpenAiError(string Message, string Type, string? Param, string? Code);
