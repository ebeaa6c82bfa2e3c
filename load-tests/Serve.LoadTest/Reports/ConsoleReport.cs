using System.Text;

namespace Serve.LoadTest.Reports;

/// <summary>The final console table, errors, thresholds and hook windows. Latencies in ms.</summary>
public static class ConsoleReport
{
    public static string Render(RunReport run)
    {
        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine($"run '{run.Name}' against {run.Target}: {run.DurationSeconds:F1}s, latencies in ms");
        foreach (var s in run.Scenarios)
        {
            sb.AppendLine();
            sb.AppendLine($"scenario '{s.Name}': measured {s.MeasuredSeconds:F1}s, warm-up requests {s.WarmUpRequests}");
            AppendTable(sb, ReportTable.Header, ReportTable.Rows(s));
            if (ReportTable.PhaseRows(s) is { Count: > 0 } phases)
            {
                sb.AppendLine("  by phase (requests counted in the phase they started in):");
                AppendTable(sb, ["phase", .. ReportTable.Header[1..]], phases);
            }
            if (s.Stats.Failed > 0)
            {
                sb.AppendLine("  errors by status: " + string.Join(", ", s.Stats.ErrorsByStatus.Select(e => $"{e.Key}: {e.Value}")));
                sb.AppendLine("  errors by kind:   " + string.Join(", ", s.Stats.ErrorsByKind.Select(e => $"{e.Key}: {e.Value}")));
                sb.AppendLine($"  failures: first at {s.Failures.FirstFailure:F3}s, last at {s.Failures.LastFailure:F3}s");
            }
            foreach (var t in s.Thresholds)
            {
                var scope = t.ScopeText;
                var bound = (t.Min is { } min ? $" >= {min}" : "") + (t.Max is { } max ? $" <= {max}" : "");
                sb.AppendLine($"  threshold {t.Metric}{scope}{bound}: actual {t.Actual:0.###} {(t.Passed ? "PASS" : "FAIL")}");
            }
        }
        foreach (var w in run.ErrorWindows)
        {
            sb.AppendLine();
            sb.AppendLine(w.Failures == 0
                ? $"hook '{w.Hook}' at {w.From:F3}s: no failures after it"
                : $"hook '{w.Hook}' at {w.From:F3}s: {w.Failures} failures from {w.FirstFailure:F3}s to {w.LastFailure:F3}s ({w.WindowSeconds:F3}s window)");
        }
        foreach (var h in run.Hooks.Where(h => !h.Succeeded))
            sb.AppendLine($"hook '{h.Name}' did not succeed: {h.Detail}");
        sb.AppendLine();
        sb.AppendLine(run.ThresholdsPassed ? "thresholds: all passed" : "thresholds: FAILED");
        return sb.ToString();
    }

    private static void AppendTable(StringBuilder sb, string[] header, IReadOnlyList<string[]> rows)
    {
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
        void Line(string[] cells) =>
            sb.AppendLine("  " + string.Join("  ", cells.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))));
        Line(header);
        sb.AppendLine("  " + string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var r in rows) Line(r);
    }
}
