using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Workloads;

/// <summary>Draws the `model` of each request from the scenario's adapter mix by inverse CDF.</summary>
public sealed class AdapterPicker
{
    private readonly string[] _names;
    private readonly double[] _cumulative;

    public AdapterPicker(AdapterMixSpec spec)
    {
        _names = [.. spec.Names];
        var weights = spec.Mix switch
        {
            AdapterMixKind.Uniform => _names.Select(_ => 1.0).ToArray(),
            AdapterMixKind.Zipf => _names.Select((_, k) => 1.0 / Math.Pow(k + 1, spec.Skew)).ToArray(),
            AdapterMixKind.Weights => _names.Select(n => spec.Weights!.GetValueOrDefault(n)).ToArray(),
            _ => throw new ScenarioException($"unknown adapter mix {spec.Mix}"),
        };
        var total = weights.Sum();
        if (!(total > 0)) throw new ScenarioException("adapter weights sum to zero");
        Probabilities = weights.Select(w => w / total).ToArray();
        _cumulative = new double[_names.Length];
        var acc = 0.0;
        for (var i = 0; i < _names.Length; i++)
        {
            acc += Probabilities[i];
            _cumulative[i] = acc;
        }
        _cumulative[^1] = 1.0;
    }

    public IReadOnlyList<string> Names => _names;

    /// <summary>The share each name is expected to get, in <see cref="Names"/> order.</summary>
    public IReadOnlyList<double> Probabilities { get; }

    public string Pick(Random rng)
    {
        var u = rng.NextDouble();
        var i = Array.BinarySearch(_cumulative, u);
        if (i < 0) i = ~i;
        return _names[Math.Min(i, _names.Length - 1)];
    }
}
