namespace Serve.LoadTest.Scenarios;

/// <summary>Which `model` each request names: uniform over the names, Zipf(skew) by rank, or fixed weights.</summary>
public sealed record AdapterMixSpec
{
    public AdapterMixKind Mix { get; init; } = AdapterMixKind.Uniform;
    public IReadOnlyList<string> Names { get; init; } = ["base"];

    /// <summary>Zipf exponent s: the k-th name is picked with probability proportional to 1/k^s.</summary>
    public double Skew { get; init; } = 1.0;

    /// <summary>For <see cref="AdapterMixKind.Weights"/>: name to relative weight.</summary>
    public IReadOnlyDictionary<string, double>? Weights { get; init; }
}
