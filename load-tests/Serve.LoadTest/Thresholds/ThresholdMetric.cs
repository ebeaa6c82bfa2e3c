using Serve.LoadTest.Reports;

namespace Serve.LoadTest.Thresholds;

/// <summary>The metric names a threshold can bound, and how each is read from a report.</summary>
public static class ThresholdMetric
{
    private static readonly string[] Latencies = ["ttft", "tpot", "itl", "e2e"];
    private static readonly string[] Stats = ["p50", "p90", "p95", "p99", "mean", "max"];
    private static readonly string[] Scalars =
    [
        "requests.sent", "requests.ok", "requests.failed", "errorRate", "rps", "tokensPerSecond", "goodput",
        "goodputRatio", "cacheHitRate",
    ];

    public static IEnumerable<string> All =>
        Latencies.SelectMany(l => Stats.Select(s => $"{l}.{s}")).Concat(Scalars);

    public static bool IsKnown(string metric) => All.Contains(metric, StringComparer.Ordinal);

    public static double Read(StatsReport s, string metric)
    {
        var dot = metric.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0 && Latencies.Contains(metric[..dot]))
        {
            var latency = metric[..dot] switch
            {
                "ttft" => s.Ttft,
                "tpot" => s.Tpot,
                "itl" => s.Itl,
                _ => s.E2e,
            };
            return latency.Get(metric[(dot + 1)..]);
        }
        return metric switch
        {
            "requests.sent" => s.Sent,
            "requests.ok" => s.Ok,
            "requests.failed" => s.Failed,
            "errorRate" => s.ErrorRate,
            "rps" => s.Rps,
            "tokensPerSecond" => s.OutputTokensPerSecond,
            "goodput" => s.Goodput,
            "goodputRatio" => s.GoodputRatio,
            "cacheHitRate" => s.CacheHitRate,
            _ => throw new ArgumentException($"unknown metric '{metric}'", nameof(metric)),
        };
    }
}
