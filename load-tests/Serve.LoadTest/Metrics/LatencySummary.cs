namespace Serve.LoadTest.Metrics;

/// <summary>Percentiles of one latency, in milliseconds.</summary>
public sealed record LatencySummary
{
    public long Count { get; init; }
    public double Mean { get; init; }
    public double P50 { get; init; }
    public double P90 { get; init; }
    public double P95 { get; init; }
    public double P99 { get; init; }
    public double Max { get; init; }

    public double Get(string stat) => stat switch
    {
        "mean" => Mean,
        "p50" => P50,
        "p90" => P90,
        "p95" => P95,
        "p99" => P99,
        "max" => Max,
        _ => throw new ArgumentException($"unknown latency statistic '{stat}'", nameof(stat)),
    };
}
