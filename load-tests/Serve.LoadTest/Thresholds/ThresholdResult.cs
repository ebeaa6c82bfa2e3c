namespace Serve.LoadTest.Thresholds;

public sealed record ThresholdResult
{
    public required string Metric { get; init; }
    public string? Adapter { get; init; }
    public string? Phase { get; init; }
    public string? RelativeTo { get; init; }

    /// <summary>What the bound was on, in words: "", " [adapter]", " [phase noisy]" or " [phase noisy / idle]".</summary>
    public string ScopeText => Adapter is not null ? $" [{Adapter}]" : Phase is null ? "" : RelativeTo is null ? $" [phase {Phase}]" : $" [phase {Phase} / {RelativeTo}]";
    public double? Min { get; init; }
    public double? Max { get; init; }
    public double Actual { get; init; }
    public bool Passed { get; init; }
}
