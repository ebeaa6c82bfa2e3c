namespace Serve.LoadTest.Scenarios;

/// <summary>A bound on one metric; a run with any threshold missed exits non-zero.</summary>
/// <remarks>Metric names: ttft|tpot|itl|e2e . p50|p90|p95|p99|mean|max (ms), requests.ok, requests.failed,
/// requests.sent, errorRate, rps, tokensPerSecond, goodput, goodputRatio, cacheHitRate.</remarks>
public sealed record ThresholdSpec
{
    public string Metric { get; init; } = "";
    public double? Min { get; init; }
    public double? Max { get; init; }

    /// <summary>Null: the whole scenario. A name: that adapter. "*": every adapter on its own.</summary>
    public string? Adapter { get; init; }
    /// <summary>A phase's name: the metric over the requests that started in that phase only.</summary>
    public string? Phase { get; init; }
    /// <summary>
    /// Another phase's name: the bound is on the ratio of the metric in Phase to the same metric in this phase
    /// (e.g. a victim's ttft.p95 under a noisy neighbour over its ttft.p95 alone, max 3).
    /// </summary>
    public string? RelativeTo { get; init; }
}
