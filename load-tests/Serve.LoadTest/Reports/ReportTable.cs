using System.Globalization;

namespace Serve.LoadTest.Reports;

/// <summary>The summary table every text report shows: one row for the scenario, one per adapter.</summary>
public static class ReportTable
{
    public static readonly string[] Header =
    [
        "scope", "sent", "ok", "failed", "req/s", "out tok/s", "goodput/s", "cache hit",
        "TTFT p50", "TTFT p95", "TTFT p99", "TPOT p50", "TPOT p95", "ITL p95", "E2E p50", "E2E p95", "E2E p99",
    ];

    public static IReadOnlyList<string[]> Rows(ScenarioReport s)
    {
        var rows = new List<string[]> { Row(s.Name, s.Stats) };
        if (s.Adapters.Count > 1 || (s.Adapters.Count == 1 && s.Adapters[0].Name != s.Name))
            rows.AddRange(s.Adapters.Select(a => Row("  " + a.Name, a)));
        return rows;
    }

    /// <summary>One row per phase, for scenarios with more than one.</summary>
    public static IReadOnlyList<string[]> PhaseRows(ScenarioReport s) =>
        s.Phases.Count > 1 ? s.Phases.Select(p => Row($"{p.Name} ({p.Start:F0}-{p.End:F0} s)", p.Stats)).ToList() : [];

    private static string[] Row(string scope, StatsReport r) =>
    [
        scope, N(r.Sent), N(r.Ok), N(r.Failed), D(r.Rps, 1), D(r.OutputTokensPerSecond, 1), D(r.Goodput, 1),
        Pct(r.CacheHitRate),
        Ms(r.Ttft.Count, r.Ttft.P50), Ms(r.Ttft.Count, r.Ttft.P95), Ms(r.Ttft.Count, r.Ttft.P99),
        Ms(r.Tpot.Count, r.Tpot.P50), Ms(r.Tpot.Count, r.Tpot.P95), Ms(r.Itl.Count, r.Itl.P95),
        Ms(r.E2e.Count, r.E2e.P50), Ms(r.E2e.Count, r.E2e.P95), Ms(r.E2e.Count, r.E2e.P99),
    ];

    /// <summary>The scope cell for documents that trim whitespace: adapter rows are marked with an arrow.</summary>
    public static string Scope(string cell) => cell.StartsWith("  ", StringComparison.Ordinal) ? "↳ " + cell.Trim() : cell;

    public static string N(long v) => v.ToString(CultureInfo.InvariantCulture);
    public static string D(double v, int digits) => v.ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    public static string Pct(double v) => (v * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    /// <summary>Milliseconds, or "-" when nothing was sampled (e.g. TTFT of non-streaming requests).</summary>
    public static string Ms(long count, double ms) => count == 0 ? "-" : ms < 10 ? D(ms, 2) : D(ms, 1);
}
