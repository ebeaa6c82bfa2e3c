using System.Globalization;
using System.Xml.Linq;

namespace Serve.LoadTest.Reports;

/// <summary>A single-file HTML report with the charts inlined as SVG. Built as XML (XHTML syntax), so it is
/// well-formed by construction and every text is escaped.</summary>
public static class HtmlReport
{
    private const string Style =
        "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}" +
        "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}th{background:#f3f3f3}" +
        "td:first-child,th:first-child{text-align:left}.fail{color:#c00;font-weight:bold}.pass{color:#080}" +
        ".charts svg{margin:6px 12px 6px 0;border:1px solid #eee}";

    public static string Render(RunReport run, IReadOnlyDictionary<string, IReadOnlyList<ChartFile>> charts)
    {
        var body = new XElement("body",
            new XElement("h1", $"Load test: {run.Name}"),
            run.Description is null ? null : new XElement("p", run.Description),
            new XElement("p",
                $"Target {run.Target}, started {run.StartedAt.ToString("u", CultureInfo.InvariantCulture)}, {run.DurationSeconds:F1} s. Latencies in ms. Thresholds: ",
                new XElement("span", new XAttribute("class", run.ThresholdsPassed ? "pass" : "fail"), run.ThresholdsPassed ? "all passed" : "FAILED")));
        foreach (var s in run.Scenarios)
        {
            body.Add(new XElement("h2", $"Scenario {s.Name}"));
            body.Add(new XElement("p", $"Measured {s.MeasuredSeconds:F1} s after {s.WarmUpRequests} warm-up requests. Phases: " +
                                       string.Join(", ", s.Phases.Select(p => $"{p.Name} ({p.Kind}, {p.Start:F1}-{p.End:F1} s)"))));
            body.Add(Table(ReportTable.Header, ReportTable.Rows(s).Select(r => r.Select((c, i) => i == 0 ? ReportTable.Scope(c) : c).ToArray()).ToList()));
            if (ReportTable.PhaseRows(s) is { Count: > 0 } phases)
            {
                body.Add(new XElement("p", "By phase (requests counted in the phase they started in):"));
                body.Add(Table(["phase", .. ReportTable.Header[1..]], phases));
            }
            if (s.Stats.Failed > 0)
            {
                body.Add(new XElement("h3", "Errors"));
                body.Add(Table(["status", "count"], s.Stats.ErrorsByStatus.Select(e => new[] { e.Key, ReportTable.N(e.Value) }).ToList()));
                body.Add(Table(["kind", "count"], s.Stats.ErrorsByKind.Select(e => new[] { e.Key, ReportTable.N(e.Value) }).ToList()));
                body.Add(new XElement("p", $"First failure at {s.Failures.FirstFailure:F3} s, last at {s.Failures.LastFailure:F3} s."));
            }
            if (s.Thresholds.Count > 0)
            {
                body.Add(new XElement("h3", "Thresholds"));
                var table = Table(["metric", "scope", "min", "max", "actual", "result"], []);
                foreach (var t in s.Thresholds)
                {
                    table.Add(new XElement("tr",
                        new XElement("td", t.Metric), new XElement("td", t.ScopeText.Length == 0 ? "scenario" : t.ScopeText.Trim()[1..^1]),
                        new XElement("td", t.Min?.ToString(CultureInfo.InvariantCulture) ?? ""),
                        new XElement("td", t.Max?.ToString(CultureInfo.InvariantCulture) ?? ""),
                        new XElement("td", t.Actual.ToString("0.###", CultureInfo.InvariantCulture)),
                        new XElement("td", new XAttribute("class", t.Passed ? "pass" : "fail"), t.Passed ? "pass" : "FAIL")));
                }
                body.Add(table);
            }
            if (charts.TryGetValue(s.Name, out var files))
            {
                body.Add(new XElement("h3", "Charts"));
                body.Add(new XElement("div", new XAttribute("class", "charts"), files.Select(c => new XElement(c.Svg))));
            }
        }
        if (run.Hooks.Count > 0)
        {
            body.Add(new XElement("h2", "Hooks and error windows"));
            body.Add(Table(["hook", "action", "fired at (s)", "result", "failures after", "first failure (s)", "last failure (s)", "window (s)"],
                run.Hooks.Select(h =>
                {
                    var w = run.ErrorWindows.FirstOrDefault(e => e.Hook == h.Name);
                    return new[]
                    {
                        h.Name, h.Action, F(h.FiredAt), (h.Succeeded ? "ok: " : "failed: ") + h.Detail,
                        ReportTable.N(w?.Failures ?? 0), F(w?.FirstFailure), F(w?.LastFailure), F(w?.WindowSeconds),
                    };
                }).ToList()));
        }
        var html = new XElement("html", new XAttribute("lang", "en"),
            new XElement("head",
                new XElement("meta", new XAttribute("charset", "utf-8")),
                new XElement("title", $"Load test: {run.Name}"),
                new XElement("style", Style)),
            body);
        return "<!DOCTYPE html>\n" + html.ToString(SaveOptions.None) + "\n";
    }

    private static XElement Table(string[] header, IReadOnlyList<string[]> rows) =>
        new("table",
            new XElement("tr", header.Select(h => new XElement("th", h))),
            rows.Select(r => new XElement("tr", r.Select(c => new XElement("td", c.Trim())))));

    private static string F(double? v) => v?.ToString("F3", CultureInfo.InvariantCulture) ?? "";
}
