namespace Serve.LoadTest.Scenarios;

/// <summary>Per-request service-level objectives: a request counts toward goodput when it succeeded and met
/// every objective that is set. Milliseconds.</summary>
public sealed record SloSpec
{
    public double? TtftMs { get; init; }
    public double? TpotMs { get; init; }
    public double? E2eMs { get; init; }
}
