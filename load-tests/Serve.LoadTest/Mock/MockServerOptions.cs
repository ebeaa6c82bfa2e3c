namespace Serve.LoadTest.Mock;

/// <summary>How the built-in OpenAI-shaped endpoint behaves.</summary>
public sealed record MockServerOptions
{
    /// <summary>0 picks a free port.</summary>
    public int Port { get; init; }

    /// <summary>When set, requests need "Authorization: Bearer &lt;key&gt;".</summary>
    public string? ApiKey { get; init; }

    /// <summary>Known `model` names; null accepts any.</summary>
    public IReadOnlyList<string>? Models { get; init; }

    public double TtftMs { get; init; }
    public double ItlMs { get; init; }

    /// <summary>Per prompt character, added to TTFT, so longer prompts take longer to "prefill".</summary>
    public double PrefillMsPerKiloChar { get; init; }

    public int DefaultMaxTokens { get; init; } = 16;

    /// <summary>Generations that run at once (0: unlimited); the rest queue, as on a server with a fixed batch,
    /// so load shows up in TTFT.</summary>
    public int Slots { get; init; }

    /// <summary>Share of requests answered with 500 (and, alternately, 429 with Retry-After).</summary>
    public double FailureRate { get; init; }

    /// <summary>Deterministic requests (temperature 0) seen before are answered at once with this header = "hit".</summary>
    public string CacheHeader { get; init; } = "X-Serve-Cache";

    public int Seed { get; init; } = 1;
}
