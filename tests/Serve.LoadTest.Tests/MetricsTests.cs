using Serve.LoadTest.Metrics;
using Serve.LoadTest.Reports;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Thresholds;

namespace Serve.LoadTest.Tests;

public sealed class MetricsTests
{
    [Fact]
    public void LatencyHistogram_PercentilesWithinHdrPrecision()
    {
        var h = new LatencyHistogram();
        for (var ms = 1; ms <= 1000; ms++) h.Record(ms * 1000L);
        var s = h.Summarize();
        Assert.Equal(1000, s.Count);
        Assert.Equal(500, s.P50, 0.5);
        Assert.Equal(900, s.P90, 0.9);
        Assert.Equal(950, s.P95, 0.95);
        Assert.Equal(990, s.P99, 1.0);
        Assert.Equal(1000, s.Max, 1.0);
        Assert.Equal(500.5, s.Mean, 0.5);
        h.Record(long.MaxValue);
        Assert.Equal(3_600_000, h.Summarize().Max, 3_600.0);
    }

    [Fact]
    public void Thresholds_LatencyWithoutSamplesFails_PerAdapterScopesEachAdapter()
    {
        static StatsReport Stats(string name, long ttftCount, double p95, long failed) => new()
        {
            Name = name,
            Sent = 10,
            Ok = 10 - failed,
            Failed = failed,
            ErrorRate = failed / 10.0,
            Ttft = new LatencySummary { Count = ttftCount, P95 = p95 },
            Tpot = new(),
            Itl = new(),
            E2e = new LatencySummary { Count = 10, P95 = 50 },
            ErrorsByStatus = new Dictionary<string, long>(),
            ErrorsByKind = new Dictionary<string, long>(),
        };
        var scenario = Stats("s", 0, 0, 1);
        var adapters = new[] { Stats("a", 5, 100, 0), Stats("b", 5, 300, 1) };
        var results = ThresholdEvaluator.Evaluate(
        [
            new ThresholdSpec { Metric = "ttft.p95", Max = 200 },
            new ThresholdSpec { Metric = "ttft.p95", Max = 200, Adapter = "*" },
            new ThresholdSpec { Metric = "errorRate", Max = 0.2 },
            new ThresholdSpec { Metric = "e2e.p95", Min = 10, Max = 60, Adapter = "a" },
        ], scenario, adapters);

        Assert.Equal([false, true, false, true, true], results.Select(r => r.Passed));
        Assert.Equal([null, "a", "b", null, "a"], results.Select(r => r.Adapter));
        Assert.Equal(300, results[2].Actual);
    }

    [Fact]
    public void SvgChart_NiceAxesAndGapsStayWellFormed()
    {
        Assert.Equal(1, SvgChart.NiceCeiling(0));
        Assert.Equal(10, SvgChart.NiceCeiling(9.3));
        Assert.Equal(1250, SvgChart.NiceCeiling(1130));
        Assert.Equal(1000, SvgChart.NiceCeiling(1000));
        Assert.Equal(0.5, SvgChart.NiceCeiling(0.43), 9);
        var chart = SvgChart.Line("t <x>", "x", "y", [0, 1, 2, 3],
            [new ChartSeries("a & b", [1, double.NaN, 3, 4], "#000"), new ChartSeries("empty", [double.NaN, double.NaN, double.NaN, double.NaN], "#111")]);
        var reparsed = System.Xml.Linq.XElement.Parse(chart.ToString());
        var line = Assert.Single(reparsed.Descendants(SvgChart.Ns + "polyline"));
        Assert.Equal(3, line.Attribute("points")!.Value.Split(' ').Length);
        Assert.Contains(reparsed.Descendants(SvgChart.Ns + "text"), t => t.Value == "a & b");
    }
}
