using Serve.LoadTest.Reports;
using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Thresholds;

/// <summary>Checks a scenario's thresholds against its report. A latency bound on a scope with no samples of that
/// latency fails: a missing measurement must not pass as a fast one.</summary>
public static class ThresholdEvaluator
{
    public static IReadOnlyList<ThresholdResult> Evaluate(IReadOnlyList<ThresholdSpec> thresholds, StatsReport scenario,
        IReadOnlyList<StatsReport> adapters, IReadOnlyList<PhaseReport>? phases = null)
    {
        var results = new List<ThresholdResult>();
        foreach (var t in thresholds)
        {
            if (t.Phase is not null)
            {
                results.Add(EvaluatePhase(t, phases ?? []));
                continue;
            }
            IEnumerable<StatsReport> scopes = t.Adapter switch
            {
                null => [scenario],
                "*" => adapters,
                var name => adapters.Where(a => a.Name == name).DefaultIfEmpty(Empty(name)),
            };
            foreach (var scope in scopes)
            {
                var actual = ThresholdMetric.Read(scope, t.Metric);
                var sampled = !IsLatency(t.Metric) || SampleCount(scope, t.Metric) > 0;
                var passed = sampled && (t.Min is null || actual >= t.Min) && (t.Max is null || actual <= t.Max);
                results.Add(new ThresholdResult
                {
                    Metric = t.Metric,
                    Adapter = t.Adapter is null ? null : scope.Name,
                    Min = t.Min,
                    Max = t.Max,
                    Actual = actual,
                    Passed = passed,
                });
            }
        }
        return results;
    }

    /// <summary>A bound on one phase's metric, or on its ratio to another phase's (both must have samples).</summary>
    private static ThresholdResult EvaluatePhase(ThresholdSpec t, IReadOnlyList<PhaseReport> phases)
    {
        var phase = phases.FirstOrDefault(p => p.Name == t.Phase)?.Stats ?? Empty(t.Phase!);
        var actual = ThresholdMetric.Read(phase, t.Metric);
        var sampled = !IsLatency(t.Metric) || SampleCount(phase, t.Metric) > 0;
        if (t.RelativeTo is not null)
        {
            var reference = phases.FirstOrDefault(p => p.Name == t.RelativeTo)?.Stats ?? Empty(t.RelativeTo);
            var baseline = ThresholdMetric.Read(reference, t.Metric);
            sampled = sampled && (!IsLatency(t.Metric) || SampleCount(reference, t.Metric) > 0) && baseline > 0;
            actual = baseline > 0 ? actual / baseline : double.PositiveInfinity;
        }
        return new ThresholdResult
        {
            Metric = t.Metric,
            Phase = t.Phase,
            RelativeTo = t.RelativeTo,
            Min = t.Min,
            Max = t.Max,
            Actual = actual,
            Passed = sampled && (t.Min is null || actual >= t.Min) && (t.Max is null || actual <= t.Max),
        };
    }

    private static bool IsLatency(string metric) =>
        metric.StartsWith("ttft.", StringComparison.Ordinal) || metric.StartsWith("tpot.", StringComparison.Ordinal)
        || metric.StartsWith("itl.", StringComparison.Ordinal) || metric.StartsWith("e2e.", StringComparison.Ordinal);

    private static long SampleCount(StatsReport s, string metric) => metric[..metric.IndexOf('.', StringComparison.Ordinal)] switch
    {
        "ttft" => s.Ttft.Count,
        "tpot" => s.Tpot.Count,
        "itl" => s.Itl.Count,
        _ => s.E2e.Count,
    };

    private static StatsReport Empty(string name) => new()
    {
        Name = name,
        Ttft = new(),
        Tpot = new(),
        Itl = new(),
        E2e = new(),
        ErrorsByStatus = new Dictionary<string, long>(),
        ErrorsByKind = new Dictionary<string, long>(),
    };
}
