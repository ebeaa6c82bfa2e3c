using System.Text;

namespace Serve.LoadTest.Reports;

/// <summary>The charts of one scenario: latency percentiles over time, throughput over time, per-adapter bars.</summary>
public static class ReportCharts
{
    public static IReadOnlyList<ChartFile> For(ScenarioReport s)
    {
        var p = SvgChart.Palette;
        var x = s.TimeSeries.Select(t => t.T).ToArray();
        var prefix = FileSafe(s.Name);
        var charts = new List<ChartFile>();
        if (s.Stats.Ttft.Count > 0)
        {
            charts.Add(new ChartFile($"{prefix}-ttft-over-time.svg", "TTFT percentiles over time", SvgChart.Line(
                $"{s.Name}: time to first token (ms)", "seconds into the run", "ms", x,
                [
                    new ChartSeries("p50", Gaps(s.TimeSeries.Select(t => t.TtftP50)), p[0]),
                    new ChartSeries("p95", Gaps(s.TimeSeries.Select(t => t.TtftP95)), p[1]),
                    new ChartSeries("p99", Gaps(s.TimeSeries.Select(t => t.TtftP99)), p[3]),
                ])));
        }
        charts.Add(new ChartFile($"{prefix}-e2e-over-time.svg", "End-to-end latency percentiles over time", SvgChart.Line(
            $"{s.Name}: end-to-end latency (ms)", "seconds into the run", "ms", x,
            [
                new ChartSeries("p50", Gaps(s.TimeSeries.Select(t => t.E2eP50)), p[0]),
                new ChartSeries("p95", Gaps(s.TimeSeries.Select(t => t.E2eP95)), p[1]),
                new ChartSeries("p99", Gaps(s.TimeSeries.Select(t => t.E2eP99)), p[3]),
            ])));
        charts.Add(new ChartFile($"{prefix}-requests-over-time.svg", "Request throughput over time", SvgChart.Line(
            $"{s.Name}: requests per second", "seconds into the run", "requests/s", x,
            [
                new ChartSeries("ok/s", s.TimeSeries.Select(t => t.Rps).ToArray(), p[2]),
                new ChartSeries("errors/s", s.TimeSeries.Select(t => t.ErrorsPerSecond).ToArray(), p[3]),
            ])));
        charts.Add(new ChartFile($"{prefix}-tokens-over-time.svg", "Token throughput over time", SvgChart.Line(
            $"{s.Name}: output tokens per second", "seconds into the run", "tokens/s", x,
            [new ChartSeries("tokens/s", s.TimeSeries.Select(t => t.TokensPerSecond).ToArray(), p[4])])));
        var names = s.Adapters.Select(a => a.Name).ToArray();
        var latency = new List<ChartSeries>();
        if (s.Stats.Ttft.Count > 0)
        {
            latency.Add(new ChartSeries("TTFT p50", s.Adapters.Select(a => a.Ttft.P50).ToArray(), p[0]));
            latency.Add(new ChartSeries("TTFT p95", s.Adapters.Select(a => a.Ttft.P95).ToArray(), p[1]));
        }
        latency.Add(new ChartSeries("E2E p50", s.Adapters.Select(a => a.E2e.P50).ToArray(), p[2]));
        latency.Add(new ChartSeries("E2E p95", s.Adapters.Select(a => a.E2e.P95).ToArray(), p[3]));
        charts.Add(new ChartFile($"{prefix}-adapters-latency.svg", "Per-adapter latency", SvgChart.Bars(
            $"{s.Name}: latency by adapter (ms)", "ms", names, latency)));
        charts.Add(new ChartFile($"{prefix}-adapters-requests.svg", "Per-adapter requests", SvgChart.Bars(
            $"{s.Name}: requests by adapter", "requests", names,
            [
                new ChartSeries("ok", s.Adapters.Select(a => (double)a.Ok).ToArray(), p[2]),
                new ChartSeries("failed", s.Adapters.Select(a => (double)a.Failed).ToArray(), p[3]),
                new ChartSeries("cache hits", s.Adapters.Select(a => (double)a.CacheHits).ToArray(), p[5]),
            ])));
        return charts;
    }

    /// <summary>A bucket with no samples has percentile 0; draw it as a gap rather than a drop to zero.</summary>
    private static double[] Gaps(IEnumerable<double> values) => values.Select(v => v > 0 ? v : double.NaN).ToArray();

    public static string FileSafe(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (var c in name) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? char.ToLowerInvariant(c) : '-');
        return sb.Length == 0 ? "scenario" : sb.ToString();
    }
}
