using System.Text.Json;

namespace Serve.Server.OpenAi;

/// <summary>The body of POST /v1/chat/completions.</summary>
public sealed class ChatCompletionRequest : GenerationRequestBody
{
    public List<ChatMessageBody>? Messages { get; set; }
    /// <summary>Wins over max_tokens when both are set (OpenAI's newer name).</summary>
    public int? MaxCompletionTokens { get; set; }
    public bool? Logprobs { get; set; }
    public int? TopLogprobs { get; set; }
}

/// <summary>A message; content is a string or an array of text parts.</summary>
public sealed class ChatMessageBody
{
    public string? Role { get; set; }
    public JsonElement? Content { get; set; }
    public string? Name { get; set; }
}
