namespace Serve.LoadTest.Reports;

/// <summary>Failures from a point on (a hook firing, or the run's start): when the first and last ended and how
/// many there were. Seconds from the run's start.</summary>
public sealed record ErrorWindow
{
    public string? Hook { get; init; }
    public double From { get; init; }
    public long Failures { get; init; }
    public double? FirstFailure { get; init; }
    public double? LastFailure { get; init; }
    public double? WindowSeconds { get; init; }
}
