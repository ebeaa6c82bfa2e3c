namespace Serve.LoadTest.Reports;

/// <summary>One report interval: rates per second and latency percentiles (ms) of requests that completed in it.</summary>
public sealed record TimePoint
{
    public double T { get; init; }
    public double Rps { get; init; }
    public double ErrorsPerSecond { get; init; }
    public double TokensPerSecond { get; init; }
    public double TtftP50 { get; init; }
    public double TtftP95 { get; init; }
    public double TtftP99 { get; init; }
    public double E2eP50 { get; init; }
    public double E2eP95 { get; init; }
    public double E2eP99 { get; init; }
}
