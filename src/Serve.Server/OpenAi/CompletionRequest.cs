using System.Text.Json;

namespace Serve.Server.OpenAi;

/// <summary>The body of POST /v1/completions (the legacy text completion API).</summary>
internal sealed class CompletionRequest : GenerationRequestBody
{
    /// <summary>A string, or an array holding one string.</summary>
    public JsonElement? Prompt { get; set; }
    /// <summary>Legacy logprobs: the number of alternatives per token (0-20); null = none.</summary>
    public int? Logprobs { get; set; }
    /// <summary>Return the prompt before the completion.</summary>
    public bool? Echo { get; set; }
    public string? Suffix { get; set; }
}
