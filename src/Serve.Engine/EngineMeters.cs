using System.Diagnostics.Metrics;

namespace Serve.Engine;

/// <summary>
/// The engine's instruments on the "Serve.Engine" meter (exported to Prometheus by the server). Latencies in
/// seconds; per-adapter instruments are tagged "adapter" (adapter names, "base" for none).
/// </summary>
internal sealed class EngineMeters : IDisposable
{
    private readonly Meter _meter = new(InferenceEngine.MeterName);

    public EngineMeters(Func<EngineStatus> status)
    {
        TimeToFirstToken = _meter.CreateHistogram<double>("serve.engine.time_to_first_token", "s", "Queueing plus prompt processing until the first generated token.");
        TimePerOutputToken = _meter.CreateHistogram<double>("serve.engine.time_per_output_token", "s", "Time between generated tokens of one request.");
        BatchTokens = _meter.CreateHistogram<int>("serve.engine.batch_tokens", "{token}", "Tokens per llama_decode call.");
        BatchSequences = _meter.CreateHistogram<int>("serve.engine.batch_sequences", "{sequence}", "Sequences per llama_decode call.");
        GroupWait = _meter.CreateHistogram<double>("serve.engine.adapter_group_wait", "s", "Time an adapter group with work waited for its decode.");
        StepDuration = _meter.CreateHistogram<double>("serve.engine.step_duration", "s",
            "One scheduler step that decodes: its housekeeping (adapter pool room, admission), the llama_decode and sampling.");
        AdapterLoadsStarted = _meter.CreateCounter<long>("serve.engine.adapter_loads_started", "{adapter}", "Adapter loads started (a cold adapter into a pool slot).");
        AdapterLoads = _meter.CreateCounter<long>("serve.engine.adapter_loads", "{adapter}", "Adapter loads finished, by outcome (ok, error).");
        AdapterLoadDuration = _meter.CreateHistogram<double>("serve.engine.adapter_load_duration", "s", "From a load's start until its adapter is ready in its slot (or failed).");
        AdapterEvictions = _meter.CreateCounter<long>("serve.engine.adapter_evictions", "{adapter}", "Resident adapters evicted (least recently used) to free a slot for another.");
        PromptTokens = _meter.CreateCounter<long>("serve.engine.prompt_tokens", "{token}", "Prompt tokens received.");
        CachedPromptTokens = _meter.CreateCounter<long>("serve.engine.prefix_cache_hit_tokens", "{token}", "Prompt tokens reused from the prefix cache.");
        GeneratedTokens = _meter.CreateCounter<long>("serve.engine.generated_tokens", "{token}", "Tokens generated.");
        Requests = _meter.CreateCounter<long>("serve.engine.requests", "{request}", "Finished requests by adapter and outcome.");
        _meter.CreateObservableGauge("serve.engine.requests_running", () => Tagged(status().RunningPerAdapter), "{request}", "Requests decoding, per adapter.");
        _meter.CreateObservableGauge("serve.engine.requests_waiting", () => Tagged(status().WaitingPerAdapter), "{request}", "Requests queued for a sequence slot, per adapter.");
        _meter.CreateObservableGauge("serve.engine.queue_depth", () => status().Waiting, "{request}", "Requests queued for a sequence slot.");
        _meter.CreateObservableGauge("serve.engine.kv_cache_usage", () => status().KvUsage, "1", "Share of the KV positions held by sequence slots (0..1).");
        _meter.CreateObservableGauge("serve.engine.adapters_loaded", () => status().LoadedAdapters, "{adapter}", "Adapters in memory.");
    }

    public Histogram<double> TimeToFirstToken { get; }
    public Histogram<double> TimePerOutputToken { get; }
    public Histogram<int> BatchTokens { get; }
    public Histogram<int> BatchSequences { get; }
    public Histogram<double> GroupWait { get; }
    public Histogram<double> StepDuration { get; }
    public Counter<long> AdapterLoadsStarted { get; }
    public Counter<long> AdapterLoads { get; }
    public Histogram<double> AdapterLoadDuration { get; }
    public Counter<long> AdapterEvictions { get; }
    public Counter<long> PromptTokens { get; }
    public Counter<long> CachedPromptTokens { get; }
    public Counter<long> GeneratedTokens { get; }
    public Counter<long> Requests { get; }

    public static KeyValuePair<string, object?> Adapter(string tag) => new("adapter", tag);

    private static IEnumerable<Measurement<int>> Tagged(IReadOnlyDictionary<string, int> counts) =>
        counts.Select(kv => new Measurement<int>(kv.Value, Adapter(kv.Key)));

    public void Dispose() => _meter.Dispose();
}
