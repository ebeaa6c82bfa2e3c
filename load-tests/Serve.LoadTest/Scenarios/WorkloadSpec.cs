using System.Text.Json.Nodes;

namespace Serve.LoadTest.Scenarios;

/// <summary>What each request looks like.</summary>
public sealed record WorkloadSpec
{
    public EndpointKind Endpoint { get; init; } = EndpointKind.Chat;
    public AdapterMixSpec Adapters { get; init; } = new();
    public LengthDistribution PromptTokens { get; init; } = LengthDistribution.Fixed(64);
    public LengthDistribution OutputTokens { get; init; } = LengthDistribution.Fixed(32);
    public SystemPromptSpec? SystemPrompt { get; init; }
    public RepeatSpec? Repeat { get; init; }

    /// <summary>Fraction of requests sent with stream=true (1 = all streaming, 0 = none).</summary>
    public double StreamFraction { get; init; } = 1.0;
    /// <summary>
    /// A stalled reader (noisy-neighbour scenarios): a streamed request reads its response headers, then nothing for
    /// this long, then closes. Recorded as failed with kind "stalled"; null = read every response.
    /// </summary>
    public TimeSpan? StallAfterHeaders { get; init; }
    /// <summary>Requests whose preparation is expensive for the server (heavy-preparation scenarios); null = none.</summary>
    public HeavyPayloadSpec? Heavy { get; init; }

    public double Temperature { get; init; } = 0.7;

    /// <summary>Extra fields merged into every request body (e.g. server-specific sampling options).</summary>
    public JsonObject? ExtraBody { get; init; }

    /// <summary>
    /// Extra fields for the requests that pick one adapter name, merged after <see cref="ExtraBody"/> (a field in both
    /// takes this one's value). For servers that select adapters by another field than `model`: llama-server's
    /// per-request `lora` list, for example (`"adapterBodies": {"a": {"lora": [{"id": 0, "scale": 1}]}}`).
    /// </summary>
    public IReadOnlyDictionary<string, JsonObject>? AdapterBodies { get; init; }

    /// <summary>Seed of the workload's random choices, so a run can be repeated request for request.</summary>
    public int Seed { get; init; } = 42;
}
