namespace Serve.LoadTest.Metrics;

/// <summary>When a phase ran, in seconds from the run's start.</summary>
public sealed record PhaseWindow
{
    public required string Name { get; init; }
    public required string Kind { get; init; }
    public double Start { get; init; }
    public double End { get; init; }
}
