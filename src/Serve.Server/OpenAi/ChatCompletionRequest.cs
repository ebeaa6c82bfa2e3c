using System.Text.Json;

namespace Serve.Server.OpenAi;

/// <summary>The body of POST /v1/chat/completions.</summary>
internal sealed class ChatCompletionRequest : GenerationRequestBody
{
    public List<ChatMessageBody>? Messages { get; set; }
    /// <summary>Wins over max_tokens when both are set (OpenAI's newer name).</summary>
    public int? MaxCompletionTokens { get; set; }
    public bool? Logprobs { get; set; }
    public int? TopLogprobs { get; set; }
    /// <summary>Functions the model may call.</summary>
    public List<ToolBody>? Tools { get; set; }
    /// <summary>"none", "auto", "required" or {"type":"function","function":{"name":...}}.</summary>
    public JsonElement? ToolChoice { get; set; }
    public bool? ParallelToolCalls { get; set; }
    /// <summary>OpenAI's deprecated form of tools: refused with a pointer to tools.</summary>
    public JsonElement? Functions { get; set; }
    /// <summary>OpenAI's deprecated form of tool_choice: refused with a pointer to tool_choice.</summary>
    public JsonElement? FunctionCall { get; set; }
}

/// <summary>A message; content is a string or an array of text parts.</summary>
internal sealed class ChatMessageBody
{
    public string? Role { get; set; }
    public JsonElement? Content { get; set; }
    public string? Name { get; set; }
    /// <summary>Assistant messages: the calls it made.</summary>
    public List<ToolCallBody>? ToolCalls { get; set; }
    /// <summary>Tool messages: the call this result answers.</summary>
    public string? ToolCallId { get; set; }
    /// <summary>Deprecated assistant function_call: refused with a pointer to tool_calls.</summary>
    public JsonElement? FunctionCall { get; set; }
}

internal sealed class ToolBody
{
    public string? Type { get; set; }
    public FunctionDefinitionBody? Function { get; set; }
}

internal sealed class FunctionDefinitionBody
{
    public string? Name { get; set; }
    public string? Description { get; set; }
    /// <summary>A JSON schema of the arguments object.</summary>
    public JsonElement? Parameters { get; set; }
    public bool? Strict { get; set; }
}

internal sealed class ToolCallBody
{
    public string? Id { get; set; }
    public string? Type { get; set; }
    public FunctionCallBody? Function { get; set; }
}

internal sealed class FunctionCallBody
{
    public string? Name { get; set; }
    /// <summary>The arguments as JSON text.</summary>
    public string? Arguments { get; set; }
}
