using Prometheus;

namespace Serve.Server.Hosting;

/// <summary>
/// /metrics: prometheus-net's HTTP request metrics and process metrics, plus the engine's meter through
/// <see cref="EngineMetricsExporter"/>. prometheus-net's generic meter adapter is turned off: it names metrics
/// after the meter twice (serve_engine_serve_engine_...) and dropped the engine's histograms and counters here.
/// </summary>
internal static class PrometheusSetup
{
    private static int _configured;

    public static void ConfigureOnce()
    {
        // Process-wide: tests start several servers in one process.
        if (Interlocked.Exchange(ref _configured, 1) != 0) return;
        Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions
        {
            SuppressMeters = true,
            SuppressEventCounters = true,
            SuppressDebugMetrics = true,
            SuppressProcessMetrics = false,
        });
        EngineMetricsExporter.Start(Metrics.DefaultRegistry);
    }
}
