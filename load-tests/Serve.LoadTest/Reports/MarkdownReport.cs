using System.Globalization;
using System.Text;

namespace Serve.LoadTest.Reports;

public static class MarkdownReport
{
    public static string Render(RunReport run, IReadOnlyDictionary<string, IReadOnlyList<ChartFile>> charts)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# Load test: {run.Name}");
        sb.AppendLine();
        if (run.Description is not null) sb.AppendLine(run.Description).AppendLine();
        sb.AppendLine($"Target `{run.Target}`, started {run.StartedAt.ToString("u", CultureInfo.InvariantCulture)}, " +
                      $"{run.DurationSeconds:F1} s. Latencies in milliseconds. Thresholds: " +
                      (run.ThresholdsPassed ? "all passed." : "**FAILED**."));
        foreach (var s in run.Scenarios)
        {
            sb.AppendLine();
            sb.AppendLine($"## Scenario `{s.Name}`");
            sb.AppendLine();
            sb.AppendLine($"Measured {s.MeasuredSeconds:F1} s after {s.WarmUpRequests} warm-up requests. Phases: " +
                          string.Join(", ", s.Phases.Select(p => $"{p.Name} ({p.Kind}, {p.Start:F1}-{p.End:F1} s)")) + ".");
            sb.AppendLine();
            sb.AppendLine("| " + string.Join(" | ", ReportTable.Header) + " |");
            sb.AppendLine("|" + string.Join("|", ReportTable.Header.Select((_, i) => i == 0 ? " --- " : " ---: ")) + "|");
            foreach (var r in ReportTable.Rows(s)) sb.AppendLine("| " + string.Join(" | ", r.Select((c, i) => i == 0 ? ReportTable.Scope(c) : c.Trim())) + " |");
            if (ReportTable.PhaseRows(s) is { Count: > 0 } phases)
            {
                sb.AppendLine();
                sb.AppendLine("By phase (requests counted in the phase they started in):");
                sb.AppendLine();
                sb.AppendLine("| phase | " + string.Join(" | ", ReportTable.Header[1..]) + " |");
                sb.AppendLine("|" + string.Join("|", ReportTable.Header.Select((_, i) => i == 0 ? " --- " : " ---: ")) + "|");
                foreach (var r in phases) sb.AppendLine("| " + string.Join(" | ", r) + " |");
            }
            if (s.Stats.Failed > 0)
            {
                sb.AppendLine();
                sb.AppendLine("Errors by status: " + string.Join(", ", s.Stats.ErrorsByStatus.Select(e => $"`{e.Key}` {e.Value}")) +
                              "; by kind: " + string.Join(", ", s.Stats.ErrorsByKind.Select(e => $"`{e.Key}` {e.Value}")) +
                              $". First failure at {s.Failures.FirstFailure:F3} s, last at {s.Failures.LastFailure:F3} s.");
            }
            if (s.Thresholds.Count > 0)
            {
                sb.AppendLine();
                sb.AppendLine("| threshold | scope | bound | actual | result |");
                sb.AppendLine("| --- | --- | --- | ---: | --- |");
                foreach (var t in s.Thresholds)
                {
                    var bound = string.Join(" and ", new[] { t.Min is { } min ? $">= {min}" : null, t.Max is { } max ? $"<= {max}" : null }.OfType<string>());
                    sb.AppendLine($"| `{t.Metric}` | {(t.ScopeText.Length == 0 ? "scenario" : t.ScopeText.Trim()[1..^1])} | {bound} | {t.Actual:0.###} | {(t.Passed ? "pass" : "**FAIL**")} |");
                }
            }
            if (charts.TryGetValue(s.Name, out var files))
            {
                sb.AppendLine();
                foreach (var c in files) sb.AppendLine($"![{c.Title}]({c.FileName})");
            }
        }
        if (run.Hooks.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Hooks and error windows");
            sb.AppendLine();
            sb.AppendLine("| hook | action | fired at (s) | result | failures after | first failure (s) | last failure (s) | window (s) |");
            sb.AppendLine("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |");
            foreach (var h in run.Hooks)
            {
                var w = run.ErrorWindows.FirstOrDefault(e => e.Hook == h.Name);
                sb.AppendLine($"| {h.Name} | {h.Action} | {h.FiredAt:F3} | {(h.Succeeded ? "ok" : "failed")}: {h.Detail} | " +
                              $"{w?.Failures ?? 0} | {w?.FirstFailure:F3} | {w?.LastFailure:F3} | {w?.WindowSeconds:F3} |");
            }
        }
        return sb.ToString();
    }
}
