using HdrHistogram;

namespace Serve.LoadTest.Metrics;

/// <summary>An HDR histogram of microseconds (1 µs to 1 h); values outside are clamped rather than dropped.</summary>
public sealed class LatencyHistogram(int significantDigits = 3)
{
    private const long HighestUs = 3_600_000_000;
    private readonly LongHistogram _histogram = new(1, HighestUs, significantDigits);

    public long Count => _histogram.TotalCount;

    public void Record(long us) => _histogram.RecordValue(Math.Clamp(us, 1, HighestUs));

    public double PercentileMs(double percentile) =>
        Count == 0 ? 0 : _histogram.GetValueAtPercentile(percentile) / 1000.0;

    public LatencySummary Summarize() => Count == 0
        ? new LatencySummary()
        : new LatencySummary
        {
            Count = Count,
            Mean = Round(_histogram.GetMean() / 1000.0),
            P50 = Round(PercentileMs(50)),
            P90 = Round(PercentileMs(90)),
            P95 = Round(PercentileMs(95)),
            P99 = Round(PercentileMs(99)),
            Max = Round(_histogram.GetMaxValue() / 1000.0),
        };

    private static double Round(double v) => Math.Round(v, 3);
}
