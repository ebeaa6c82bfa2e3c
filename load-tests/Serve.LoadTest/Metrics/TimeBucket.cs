namespace Serve.LoadTest.Metrics;

/// <summary>Requests that completed within one report interval, for the over-time charts.</summary>
public sealed class TimeBucket
{
    public long Ok { get; set; }
    public long Failed { get; set; }
    public long OutputTokens { get; set; }
    public long CacheHits { get; set; }

    // Two significant digits: a chart point does not need more, and a long run keeps many buckets.
    public LatencyHistogram Ttft { get; } = new(2);
    public LatencyHistogram E2e { get; } = new(2);
}
