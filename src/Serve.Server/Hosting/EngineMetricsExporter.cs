using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Prometheus;
using Serve.Engine;

namespace Serve.Server.Hosting;

/// <summary>
/// Publishes the engine's System.Diagnostics.Metrics instruments ("Serve.Engine" meter) as Prometheus metrics with
/// conventional names: serve.engine.time_to_first_token (unit s) becomes serve_engine_time_to_first_token_seconds,
/// counters get _total, tags become labels. Observable gauges are read at scrape time; label sets that stopped
/// reporting (an adapter with no more running requests) drop to 0 instead of keeping a stale value.
/// </summary>
internal sealed class EngineMetricsExporter : IDisposable
{
    private static EngineMetricsExporter? _instance;

    private static readonly double[] SecondsBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    private static readonly double[] CountBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

    private readonly MeterListener _listener = new();
    private readonly MetricFactory _factory;
    private readonly ConcurrentDictionary<Instrument, Collector?> _collectors = new();
    private readonly ConcurrentDictionary<Gauge, ConcurrentDictionary<string, string[]>> _gaugeLabels = new();

    private EngineMetricsExporter(CollectorRegistry registry)
    {
        _factory = Metrics.WithCustomRegistry(registry);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == InferenceEngine.MeterName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
        registry.AddBeforeCollectCallback(Observe);
    }

    public static void Start(CollectorRegistry registry) => Interlocked.CompareExchange(ref _instance, new EngineMetricsExporter(registry), null);

    /// <summary>Prometheus name of an instrument: dots to underscores, the unit as a suffix.</summary>
    public static string PrometheusName(Instrument instrument)
    {
        var name = instrument.Name.Replace('.', '_').Replace('-', '_');
        if (instrument.Unit == "s") name += "_seconds";
        if (instrument is Counter<long> or Counter<int> or Counter<double>) name += "_total";
        return name;
    }

    private void Observe()
    {
        // Zero every known label set first: an adapter that left the engine's per-adapter snapshot reads 0.
        foreach (var (gauge, labels) in _gaugeLabels)
        {
            foreach (var values in labels.Values) gauge.WithLabels(values).Set(0);
        }
        _listener.RecordObservableInstruments();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        try
        {
            var sorted = tags.ToArray().OrderBy(t => t.Key, StringComparer.Ordinal).ToArray();
            var names = sorted.Select(t => t.Key.Replace('.', '_').Replace('-', '_')).ToArray();
            var values = sorted.Select(t => t.Value?.ToString() ?? "").ToArray();
            var collector = _collectors.GetOrAdd(instrument, i => Create(i, names));
            switch (collector)
            {
                case Histogram h:
                    if (h.LabelNames.SequenceEqual(names)) h.WithLabels(values).Observe(value);
                    break;
                case Counter c:
                    if (c.LabelNames.SequenceEqual(names)) c.WithLabels(values).Inc(value);
                    break;
                case Gauge g:
                    if (!g.LabelNames.SequenceEqual(names)) break;
                    g.WithLabels(values).Set(value);
                    if (values.Length > 0) _gaugeLabels.GetOrAdd(g, _ => new())[string.Join('\u0001', values)] = values;
                    break;
            }
        }
        catch (Exception)
        {
            // A metrics failure must never reach the engine's scheduler thread.
        }
    }

    private Collector? Create(Instrument instrument, string[] labelNames)
    {
        var name = PrometheusName(instrument);
        var help = instrument.Description ?? instrument.Name;
        return instrument switch
        {
            Histogram<double> or Histogram<int> or Histogram<long> => _factory.CreateHistogram(name, help, labelNames,
                new HistogramConfiguration { Buckets = instrument.Unit == "s" ? SecondsBuckets : CountBuckets }),
            Counter<long> or Counter<int> or Counter<double> => _factory.CreateCounter(name, help, labelNames),
            ObservableGauge<int> or ObservableGauge<long> or ObservableGauge<double> or UpDownCounter<int> or UpDownCounter<long> =>
                _factory.CreateGauge(name, help, labelNames),
            _ => null,
        };
    }

    public void Dispose() => _listener.Dispose();
}
