using Serve.Engine;

namespace Serve.Server.OpenAi;

/// <summary>A mapped request: what to ask the engine and how to answer (model echoed, stream or not, usage chunk).</summary>
internal sealed record GenerationPlan(
    GenerationRequest Request,
    string Model,
    bool Stream,
    bool IncludeUsage,
    /// <summary>Completions only: the prompt text returned before the completion (echo).</summary>
    string? Echo = null,
    /// <summary>Chat only: the tools the model may call and how; null when the request has none.</summary>
    Serve.Server.Tools.ToolCalling? Tools = null,
    /// <summary>
    /// The request's own names for engine fields it spells differently (completions' logprobs is the engine's
    /// top_logprobs), so the engine's errors name the field the client sent; null when every name is the engine's.
    /// </summary>
    IReadOnlyDictionary<string, string>? FieldNames = null);
