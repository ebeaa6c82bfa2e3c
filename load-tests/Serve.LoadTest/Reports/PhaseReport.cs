namespace Serve.LoadTest.Reports;

/// <summary>One phase: when it ran (seconds from the run's start) and what the requests that started in it
/// measured; its rates are over the phase's own duration.</summary>
public sealed record PhaseReport
{
    public required string Name { get; init; }
    public required string Kind { get; init; }
    public double Start { get; init; }
    public double End { get; init; }
    public required StatsReport Stats { get; init; }
}
