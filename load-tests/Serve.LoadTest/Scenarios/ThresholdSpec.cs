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
}
