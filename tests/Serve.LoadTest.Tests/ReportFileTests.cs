using System.Text.Json;
using System.Xml;
using System.Xml.Linq;
using Serve.LoadTest.Mock;
using Serve.LoadTest.Reports;
using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Tests;

/// <summary>Every report file a run writes parses as what it claims to be and carries the run's numbers.</summary>
public sealed class ReportFileTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    [Fact]
    public async Task Run_WritesWellFormedJsonJsonlMarkdownHtmlAndSvg()
    {
        await using var target = await LiveTarget.StartAsync(new MockServerOptions { Models = ["a", "b"], TtftMs = 2, ItlMs = 1 });
        using var dir = new TempDirectory();
        var workload = new WorkloadSpec
        {
            Adapters = new AdapterMixSpec { Mix = AdapterMixKind.Zipf, Skew = 1.2, Names = target.Adapters(2) },
            OutputTokens = LengthDistribution.Fixed(5),
        };
        var spec = ScenarioHarness.Tiny("reports <&> \"quoted\"", workload,
            // 2.5 s: at least two 0.5 s report intervals even when a busy machine delays the reporting timer.
            new PhaseSpec { Kind = PhaseKind.ConstantRate, Rate = 100, Duration = TimeSpan.FromSeconds(2.5) },
            thresholds: [new ThresholdSpec { Metric = "errorRate", Max = 0.5 }, new ThresholdSpec { Metric = "ttft.p95", Max = 60_000, Adapter = "*" }]);

        var (result, records) = await ScenarioHarness.RunAsync(spec, target.BaseUrl, dir.Path);
        var s = result.Report.Scenarios[0];

        // JSON per run: the numbers in the file are the run's.
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(dir.File(ReportWriter.JsonFile)));
        var scenario = json.RootElement.GetProperty("scenarios")[0];
        Assert.Equal(s.Stats.Sent, scenario.GetProperty("stats").GetProperty("sent").GetInt64());
        Assert.Equal(s.Stats.Ttft.P95, scenario.GetProperty("stats").GetProperty("ttft").GetProperty("p95").GetDouble());
        Assert.Equal(2, scenario.GetProperty("adapters").GetArrayLength());
        Assert.True(scenario.GetProperty("timeSeries").GetArrayLength() >= 2);
        Assert.Equal(3, scenario.GetProperty("thresholds").GetArrayLength());
        Assert.True(json.RootElement.GetProperty("thresholdsPassed").GetBoolean());
        Assert.Equal(0, json.RootElement.GetProperty("exitCode").GetInt32());

        // JSONL per request: one parsable object per request, nothing else.
        Assert.Equal(s.Stats.Sent, records.Count);
        Assert.All(records, r => Assert.Equal(JsonValueKind.Object, r.ValueKind));

        // Markdown: a pipe table with a row per scope, and links to the charts.
        var md = await File.ReadAllTextAsync(dir.File(ReportWriter.MarkdownFile));
        Assert.Contains("| scope | sent | ok | failed |", md, StringComparison.Ordinal);
        Assert.Contains($"| {s.Stats.Sent} |", md, StringComparison.Ordinal);
        var images = System.Text.RegularExpressions.Regex.Matches(md, @"!\[[^\]]*\]\(([^)]+\.svg)\)").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(6, images.Count);
        Assert.All(images, i => Assert.True(File.Exists(dir.File(i)), i));

        // HTML: well-formed (parsed as XML), with the table and the charts inline.
        var html = Parse(dir.File(ReportWriter.HtmlFile));
        Assert.Equal("html", html.Root!.Name.LocalName);
        Assert.Contains(html.Descendants("title"), t => t.Value.Contains("reports <&> \"quoted\"", StringComparison.Ordinal));
        Assert.True(html.Descendants("table").Count() >= 2);
        Assert.Equal(6, html.Descendants(Svg + "svg").Count());

        // SVG files: SVG-namespaced roots with drawn lines or bars.
        var svgs = Directory.GetFiles(dir.Path, "*.svg");
        Assert.Equal(6, svgs.Length);
        foreach (var file in svgs)
        {
            var doc = Parse(file);
            Assert.Equal(Svg + "svg", doc.Root!.Name);
            var drawn = file.Contains("adapters", StringComparison.Ordinal)
                ? doc.Descendants(Svg + "rect").Count(r => r.Element(Svg + "title") is not null)
                : doc.Descendants(Svg + "polyline").Count();
            Assert.True(drawn > 0, $"{Path.GetFileName(file)} draws nothing");
        }
        var ttft = Parse(Directory.GetFiles(dir.Path, "*-ttft-over-time.svg").Single());
        Assert.Equal(["p50", "p95", "p99"], ttft.Descendants(Svg + "text").Select(t => t.Value).Where(v => v.StartsWith('p')));
    }

    private static XDocument Parse(string path)
    {
        // The HTML starts with <!DOCTYPE html>; ignore the DTD, parse the rest strictly.
        using var reader = XmlReader.Create(path, new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        return XDocument.Load(reader);
    }
}
