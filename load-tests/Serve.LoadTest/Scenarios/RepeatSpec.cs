namespace Serve.LoadTest.Scenarios;

/// <summary>Repeated deterministic requests (temperature 0, fixed seed): a fraction of requests is drawn from a
/// pool of identical request bodies, which a response cache can answer.</summary>
public sealed record RepeatSpec
{
    public double Fraction { get; init; }
    public int Pool { get; init; } = 16;
}
