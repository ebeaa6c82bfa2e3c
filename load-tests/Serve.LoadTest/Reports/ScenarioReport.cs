using Serve.LoadTest.Thresholds;

namespace Serve.LoadTest.Reports;

public sealed record ScenarioReport
{
    public required string Name { get; init; }
    public long WarmUpRequests { get; init; }
    public double MeasuredSeconds { get; init; }
    public required StatsReport Stats { get; init; }
    public required IReadOnlyList<StatsReport> Adapters { get; init; }
    public required IReadOnlyList<PhaseReport> Phases { get; init; }
    public required IReadOnlyList<TimePoint> TimeSeries { get; init; }
    public required ErrorWindow Failures { get; init; }
    public required IReadOnlyList<ThresholdResult> Thresholds { get; init; }
}
