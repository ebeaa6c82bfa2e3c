namespace Serve.LoadTest.Thresholds;

public sealed record ThresholdResult
{
    public required string Metric { get; init; }
    public string? Adapter { get; init; }
    public double? Min { get; init; }
    public double? Max { get; init; }
    public double Actual { get; init; }
    public bool Passed { get; init; }
}
