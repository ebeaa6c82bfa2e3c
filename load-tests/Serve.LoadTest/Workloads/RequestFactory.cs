using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Workloads;

/// <summary>Turns a workload into a deterministic sequence of request plans (one seeded generator, taken under a
/// lock, so the same seed gives the same requests in the same order).</summary>
public sealed class RequestFactory
{
    private readonly WorkloadSpec _spec;
    private readonly Random _rng;
    private readonly string[] _systemPrompts;
    private readonly RequestPlan[] _repeatPool;
    private readonly Lock _gate = new();

    public RequestFactory(WorkloadSpec spec)
    {
        _spec = spec;
        Adapters = new AdapterPicker(spec.Adapters);
        _rng = new Random(spec.Seed);
        var promptRng = new Random(unchecked(spec.Seed * 31 + 7));
        _systemPrompts = spec.SystemPrompt is { } sp
            ? Enumerable.Range(0, Math.Max(1, sp.Variants))
                .Select(i => $"You are assistant {i}. " + PromptText.Build(sp.Tokens, promptRng, null))
                .ToArray()
            : [];
        _repeatPool = spec.Repeat is { Fraction: > 0 } r
            ? Enumerable.Range(0, r.Pool).Select(i => Fresh(promptRng, deterministic: true, repeated: true, poolIndex: i)).ToArray()
            : [];
    }

    public AdapterPicker Adapters { get; }

    public RequestPlan Next()
    {
        lock (_gate)
        {
            if (_repeatPool.Length > 0 && _rng.NextDouble() < _spec.Repeat!.Fraction)
                return _repeatPool[_rng.Next(_repeatPool.Length)];
            return Fresh(_rng, deterministic: false, repeated: false, poolIndex: -1);
        }
    }

    private RequestPlan Fresh(Random rng, bool deterministic, bool repeated, int poolIndex)
    {
        var adapter = Adapters.Pick(rng);
        var system = _systemPrompts.Length == 0 ? null : _systemPrompts[rng.Next(_systemPrompts.Length)];
        var promptTokens = _spec.PromptTokens.Sample(rng);
        // A repeated request carries its pool index so two pool entries never collide by chance.
        var prefix = poolIndex >= 0 ? $"Question {poolIndex}:" : null;
        var prompt = PromptText.Build(promptTokens, rng, prefix);
        var maxTokens = _spec.OutputTokens.Sample(rng);
        var stream = _spec.StreamFraction >= 1 || (_spec.StreamFraction > 0 && rng.NextDouble() < _spec.StreamFraction);
        return new RequestPlan(adapter, system, prompt, promptTokens, maxTokens, stream,
            deterministic ? 0.0 : _spec.Temperature, deterministic ? 1234 : null, repeated);
    }
}
