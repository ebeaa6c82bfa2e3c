using System.Text.Json;
using System.Xml.Linq;

namespace Serve.LoadTest.Reports;

/// <summary>Writes report.json, report.md, report.html and the charts as .svg files into one directory
/// (the per-request requests.jsonl is written there during the run).</summary>
public static class ReportWriter
{
    public const string JsonFile = "report.json";
    public const string JsonlFile = "requests.jsonl";
    public const string MarkdownFile = "report.md";
    public const string HtmlFile = "report.html";

    public static IReadOnlyList<string> Write(RunReport run, string directory, JsonSerializerOptions json)
    {
        Directory.CreateDirectory(directory);
        var charts = run.Scenarios.ToDictionary(s => s.Name, ReportCharts.For);
        var written = new List<string>();
        void Save(string name, string content)
        {
            var path = Path.Combine(directory, name);
            File.WriteAllText(path, content);
            written.Add(path);
        }
        Save(JsonFile, JsonSerializer.Serialize(run, json) + "\n");
        Save(MarkdownFile, MarkdownReport.Render(run, charts));
        Save(HtmlFile, HtmlReport.Render(run, charts));
        foreach (var c in charts.Values.SelectMany(c => c))
            Save(c.FileName, new XDocument(new XDeclaration("1.0", "utf-8", null), c.Svg).ToString(SaveOptions.None) + "\n");
        return written;
    }
}
