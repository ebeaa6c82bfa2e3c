namespace Serve.Engine;

/// <summary>
/// One completion. Exactly one of Messages (formatted with the model's chat template, as training formats
/// them) or Prompt (raw text) is set.
/// </summary>
public sealed record GenerationRequest
{
    public IReadOnlyList<ChatMessage>? Messages { get; init; }

    /// <summary>Functions the model may call, given to it through the chat template (Messages requests only).</summary>
    public IReadOnlyList<Serve.Templates.ChatTool>? Tools { get; init; }
    public string? Prompt { get; init; }

    /// <summary>Adapters with scales; empty = the base model alone.</summary>
    public IReadOnlyList<AdapterWeight> Adapters { get; init; } = [];

    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>Most tokens generated; null = EngineOptions.DefaultMaxTokens. Always capped by the context.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>Stop strings: generation ends before the first occurrence, which is not returned.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Return each generated token's log-probability.</summary>
    public bool Logprobs { get; init; }

    /// <summary>Alternatives per token with their log-probabilities (0-20); given at all, it needs Logprobs. Null: none asked for.</summary>
    public int? TopLogprobs { get; init; }

    /// <summary>Keep going past end-of-generation tokens (benchmarks).</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>
    /// Who asked (the server: a hash of the API key, or the client address), for fairness between clients: each
    /// holds at most a share of the running sequences and queue places (EngineOptions.ClientRunningShare,
    /// ClientQueueShare) and clients take turns. Null: an in-process caller, not limited.
    /// </summary>
    public string? ClientId { get; init; }

    /// <summary>
    /// Completions generated for the prompt (OpenAI's n), 1 to EngineOptions.MaxChoices. The prompt is prefilled once
    /// and its KV copied to each choice's sequence; with a seed, choice i samples with seed + i.
    /// </summary>
    public int Choices { get; init; } = 1;
}
