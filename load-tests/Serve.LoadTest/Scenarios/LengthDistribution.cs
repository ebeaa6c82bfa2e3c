namespace Serve.LoadTest.Scenarios;

/// <summary>A token-count distribution: fixed, uniform [min,max], normal or lognormal (clamped to [min,max]).</summary>
public sealed record LengthDistribution
{
    public DistributionKind Kind { get; init; } = DistributionKind.Fixed;
    public int Value { get; init; } = 64;
    public int Min { get; init; } = 1;
    public int Max { get; init; } = 4096;
    public double Mean { get; init; } = 64;
    public double StdDev { get; init; } = 16;

    public static LengthDistribution Fixed(int value) => new() { Kind = DistributionKind.Fixed, Value = value };

    public int Sample(Random rng)
    {
        double v = Kind switch
        {
            DistributionKind.Fixed => Value,
            DistributionKind.Uniform => rng.Next(Min, Max + 1),
            DistributionKind.Normal => Mean + StdDev * StandardNormal(rng),
            // Mean and StdDev describe the lengths themselves, not the underlying normal.
            DistributionKind.LogNormal => LogNormal(rng),
            _ => throw new InvalidOperationException($"unknown distribution {Kind}"),
        };
        if (Kind == DistributionKind.Fixed) return Math.Max(1, Value);
        return (int)Math.Clamp(Math.Round(v), Math.Max(1, Min), Math.Max(Min, Max));
    }

    private double LogNormal(Random rng)
    {
        var variance = Math.Log(1 + StdDev * StdDev / (Mean * Mean));
        var mu = Math.Log(Mean) - variance / 2;
        return Math.Exp(mu + Math.Sqrt(variance) * StandardNormal(rng));
    }

    private static double StandardNormal(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public void Validate(string what)
    {
        if (Kind == DistributionKind.Fixed && Value < 1) throw new ScenarioException($"{what}: value must be >= 1");
        if (Kind != DistributionKind.Fixed && (Min < 1 || Max < Min)) throw new ScenarioException($"{what}: need 1 <= min <= max");
        if (Kind is DistributionKind.Normal or DistributionKind.LogNormal && (Mean <= 0 || StdDev < 0))
            throw new ScenarioException($"{what}: need mean > 0 and stdDev >= 0");
    }
}
