using Serve.LoadTest.Metrics;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Simulations;
using Serve.LoadTest.Thresholds;
using Serve.LoadTest.Workloads;

namespace Serve.LoadTest.Reports;

/// <summary>Turns what was measured into report records.</summary>
public static class ReportBuilder
{
    public static ScenarioReport Scenario(ScenarioSpec spec, ScenarioMetrics metrics, AdapterPicker picker)
    {
        var seconds = metrics.MeasuredStart is { } s && metrics.MeasuredEnd is { } e ? Math.Max(e - s, 1e-3) : 0;
        var overall = Stats(spec.Name, metrics.Overall, seconds, null, null);
        var expected = picker.Names.Select((n, i) => (n, p: picker.Probabilities[i])).ToDictionary(x => x.n, x => x.p);
        var adapterNames = picker.Names.Concat(metrics.Adapters.Keys).Distinct(StringComparer.Ordinal);
        var adapters = adapterNames
            .Select(name => Stats(name, metrics.Adapters.GetValueOrDefault(name) ?? new StatsAccumulator(), seconds,
                overall.Sent, expected.TryGetValue(name, out var p) ? p : null))
            .ToList();
        var (series, failures) = metrics.Read((buckets, failureTimes) =>
            (TimeSeries(buckets, metrics.IntervalSeconds, metrics.MeasuredEnd ?? 0), Window(null, 0, failureTimes)));
        var phases = metrics.Phases.Select(p => new PhaseReport
        {
            Name = p.Name,
            Kind = p.Kind,
            Start = Math.Round(p.Start, 3),
            End = Math.Round(p.End, 3),
            Stats = Stats(p.Name, metrics.PhaseStats.GetValueOrDefault(p.Name) ?? new StatsAccumulator(), Math.Max(p.End - p.Start, 1e-3), null, null),
        }).ToList();
        return new ScenarioReport
        {
            Name = spec.Name,
            WarmUpRequests = metrics.WarmUpRequests,
            MeasuredSeconds = Math.Round(seconds, 3),
            Stats = overall,
            Adapters = adapters,
            Phases = phases,
            TimeSeries = series,
            Failures = failures,
            Thresholds = ThresholdEvaluator.Evaluate(spec.Thresholds, overall, adapters, phases),
        };
    }

    /// <summary>Failures after each hook that fired, over all scenarios.</summary>
    public static IReadOnlyList<ErrorWindow> HookWindows(IReadOnlyList<HookEvent> hooks, IEnumerable<ScenarioMetrics> scenarios)
    {
        var times = scenarios.SelectMany(m => m.Read((_, f) => f.ToArray())).Order().ToArray();
        return hooks.Where(h => h.FiredAt is not null).Select(h => Window(h.Name, h.FiredAt!.Value, times)).ToList();
    }

    private static ErrorWindow Window(string? hook, double from, IReadOnlyList<double> failureTimes)
    {
        var after = failureTimes.Where(t => t >= from).ToArray();
        if (after.Length == 0) return new ErrorWindow { Hook = hook, From = Math.Round(from, 3) };
        var first = after.Min();
        var last = after.Max();
        return new ErrorWindow
        {
            Hook = hook,
            From = Math.Round(from, 3),
            Failures = after.Length,
            FirstFailure = Math.Round(first, 3),
            LastFailure = Math.Round(last, 3),
            WindowSeconds = Math.Round(last - first, 3),
        };
    }

    private static StatsReport Stats(string name, StatsAccumulator a, double seconds, long? scenarioSent, double? expectedShare) => new()
    {
        Name = name,
        Sent = a.Sent,
        Ok = a.Ok,
        Failed = a.Failed,
        ErrorRate = Ratio(a.Failed, a.Sent),
        Rps = seconds > 0 ? Math.Round(a.Ok / seconds, 3) : 0,
        OutputTokens = a.OutputTokens,
        PromptTokens = a.PromptTokens,
        OutputTokensPerSecond = seconds > 0 ? Math.Round(a.OutputTokens / seconds, 3) : 0,
        Goodput = seconds > 0 ? Math.Round(a.Good / seconds, 3) : 0,
        GoodputRatio = Ratio(a.Good, a.Sent),
        CacheHits = a.CacheHits,
        CacheHitRate = Ratio(a.CacheHits, a.Ok),
        UsageCoverage = Ratio(a.UsageReported, a.Ok),
        Share = scenarioSent is { } total ? Ratio(a.Sent, total) : null,
        ExpectedShare = expectedShare is { } p ? Math.Round(p, 6) : null,
        Ttft = a.Ttft.Summarize(),
        Tpot = a.Tpot.Summarize(),
        Itl = a.Itl.Summarize(),
        E2e = a.E2e.Summarize(),
        ErrorsByStatus = new SortedDictionary<string, long>(a.ErrorsByStatus, StringComparer.Ordinal),
        ErrorsByKind = new SortedDictionary<string, long>(a.ErrorsByKind, StringComparer.Ordinal),
    };

    private static List<TimePoint> TimeSeries(IReadOnlyList<TimeBucket> buckets, double interval, double end)
    {
        var points = new List<TimePoint>(buckets.Count);
        // Buckets before the first measured completion (warm-up) are empty; leave them out of the charts.
        var first = 0;
        while (first < buckets.Count && buckets[first].Ok + buckets[first].Failed == 0) first++;
        for (var i = first; i < buckets.Count; i++)
        {
            var b = buckets[i];
            // The last bucket is cut short by the run's end: rate it over the time it covered, and leave out a
            // sliver too short to say anything.
            var width = Math.Min(interval, end - i * interval);
            if (i == buckets.Count - 1 && width < interval * 0.25 && i > first) break;
            width = Math.Max(width, interval * 0.25);
            points.Add(new TimePoint
            {
                T = Math.Round(i * interval, 3),
                Rps = Math.Round(b.Ok / width, 3),
                ErrorsPerSecond = Math.Round(b.Failed / width, 3),
                TokensPerSecond = Math.Round(b.OutputTokens / width, 3),
                TtftP50 = b.Ttft.PercentileMs(50),
                TtftP95 = b.Ttft.PercentileMs(95),
                TtftP99 = b.Ttft.PercentileMs(99),
                E2eP50 = b.E2e.PercentileMs(50),
                E2eP95 = b.E2e.PercentileMs(95),
                E2eP99 = b.E2e.PercentileMs(99),
            });
        }
        return points;
    }

    private static double Ratio(long part, long whole) => whole == 0 ? 0 : Math.Round((double)part / whole, 6);
}
