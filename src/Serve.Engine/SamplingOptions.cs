namespace Serve.Engine;

/// <summary>
/// Per-request sampling, mapped onto a llama.cpp sampler chain. Temperature 0 is greedy. Penalties count
/// generated tokens only (OpenAI semantics).
/// </summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; } = 1f;
    public float TopP { get; init; } = 1f;
    /// <summary>0 = off.</summary>
    public int TopK { get; init; }
    /// <summary>0 = off.</summary>
    public float MinP { get; init; }
    /// <summary>Null: a random seed.</summary>
    public uint? Seed { get; init; }
    public float PresencePenalty { get; init; }
    public float FrequencyPenalty { get; init; }
    /// <summary>1 = off.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Token id to bias added to its logit (-100 bans it).</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    /// <summary>GBNF grammar constraining the output (root rule "root"); null = free text.</summary>
    public string? Grammar { get; init; }

    public bool IsGreedy => Temperature <= 0f;
}
