using System.Globalization;
using System.Xml.Linq;

namespace Serve.LoadTest.Reports;

/// <summary>Small self-contained SVG line and bar charts, built as XML so the output is always well-formed.</summary>
public static class SvgChart
{
    public static readonly XNamespace Ns = "http://www.w3.org/2000/svg";
    public static readonly string[] Palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

    private const double Width = 760;
    private const double Height = 320;
    private const double Left = 64;
    private const double Right = 150;
    private const double Top = 34;
    private const double Bottom = 44;
    private const double PlotW = Width - Left - Right;
    private const double PlotH = Height - Top - Bottom;

    public static XElement Line(string title, string xLabel, string yLabel, IReadOnlyList<double> x, IReadOnlyList<ChartSeries> series)
    {
        var svg = Frame(title, xLabel, yLabel);
        var finite = series.SelectMany(s => s.Values).Where(double.IsFinite).DefaultIfEmpty(0).ToArray();
        var yMax = NiceCeiling(finite.Max());
        var xMin = x.Count > 0 ? x.Min() : 0;
        var xMax = x.Count > 0 ? Math.Max(x.Max(), xMin + 1e-9) : 1;
        YAxis(svg, yMax);
        var xStep = NiceStep((xMax - xMin) / 6);
        for (var v = Math.Ceiling(xMin / xStep) * xStep; v <= xMax + 1e-9; v += xStep)
        {
            var px = Left + (v - xMin) / (xMax - xMin) * PlotW;
            svg.Add(GridLine(px, Top, px, Top + PlotH));
            svg.Add(Text(px, Top + PlotH + 16, Fmt(v), "middle", 11));
        }
        for (var s = 0; s < series.Count; s++)
        {
            var pts = new List<string>();
            for (var i = 0; i < x.Count && i < series[s].Values.Count; i++)
            {
                var y = series[s].Values[i];
                if (!double.IsFinite(y)) continue;
                var px = Left + (x[i] - xMin) / (xMax - xMin) * PlotW;
                var py = Top + PlotH - y / yMax * PlotH;
                pts.Add($"{Fmt(px)},{Fmt(py)}");
            }
            if (pts.Count > 0)
            {
                svg.Add(new XElement(Ns + "polyline",
                    new XAttribute("points", string.Join(' ', pts)),
                    new XAttribute("fill", "none"),
                    new XAttribute("stroke", series[s].Color),
                    new XAttribute("stroke-width", "1.8")));
            }
            Legend(svg, s, series[s]);
        }
        return svg;
    }

    public static XElement Bars(string title, string yLabel, IReadOnlyList<string> categories, IReadOnlyList<ChartSeries> series)
    {
        var svg = Frame(title, "", yLabel);
        var finite = series.SelectMany(s => s.Values).Where(double.IsFinite).DefaultIfEmpty(0).ToArray();
        var yMax = NiceCeiling(finite.Max());
        YAxis(svg, yMax);
        var groupW = PlotW / Math.Max(1, categories.Count);
        var barW = groupW * 0.8 / Math.Max(1, series.Count);
        for (var c = 0; c < categories.Count; c++)
        {
            var gx = Left + c * groupW + groupW * 0.1;
            svg.Add(Text(Left + (c + 0.5) * groupW, Top + PlotH + 16, categories[c], "middle", 11));
            for (var s = 0; s < series.Count; s++)
            {
                var v = c < series[s].Values.Count ? series[s].Values[c] : double.NaN;
                if (!double.IsFinite(v)) continue;
                var h = v / yMax * PlotH;
                svg.Add(new XElement(Ns + "rect",
                    new XAttribute("x", Fmt(gx + s * barW)),
                    new XAttribute("y", Fmt(Top + PlotH - h)),
                    new XAttribute("width", Fmt(Math.Max(1, barW - 2))),
                    new XAttribute("height", Fmt(h)),
                    new XAttribute("fill", series[s].Color),
                    new XElement(Ns + "title", $"{categories[c]} {series[s].Name}: {Fmt(v)}")));
            }
        }
        for (var s = 0; s < series.Count; s++) Legend(svg, s, series[s]);
        return svg;
    }

    private static XElement Frame(string title, string xLabel, string yLabel)
    {
        var svg = new XElement(Ns + "svg",
            new XAttribute("width", Fmt(Width)),
            new XAttribute("height", Fmt(Height)),
            new XAttribute("viewBox", $"0 0 {Fmt(Width)} {Fmt(Height)}"),
            new XAttribute("font-family", "sans-serif"),
            new XElement(Ns + "rect", new XAttribute("width", "100%"), new XAttribute("height", "100%"), new XAttribute("fill", "white")),
            Text(Left, 20, title, "start", 14, bold: true),
            Text(Left + PlotW / 2, Height - 8, xLabel, "middle", 12));
        var yl = Text(16, Top + PlotH / 2, yLabel, "middle", 12);
        yl.Add(new XAttribute("transform", $"rotate(-90 16 {Fmt(Top + PlotH / 2)})"));
        svg.Add(yl);
        svg.Add(new XElement(Ns + "rect",
            new XAttribute("x", Fmt(Left)), new XAttribute("y", Fmt(Top)),
            new XAttribute("width", Fmt(PlotW)), new XAttribute("height", Fmt(PlotH)),
            new XAttribute("fill", "none"), new XAttribute("stroke", "#444")));
        return svg;
    }

    private static void YAxis(XElement svg, double yMax)
    {
        for (var i = 0; i <= 5; i++)
        {
            var v = yMax * i / 5;
            var py = Top + PlotH - PlotH * i / 5;
            if (i > 0 && i < 5) svg.Add(GridLine(Left, py, Left + PlotW, py));
            svg.Add(Text(Left - 6, py + 4, Fmt(v), "end", 11));
        }
    }

    private static void Legend(XElement svg, int index, ChartSeries series)
    {
        var y = Top + 8 + index * 18;
        var x = Left + PlotW + 12;
        svg.Add(new XElement(Ns + "rect", new XAttribute("x", Fmt(x)), new XAttribute("y", Fmt(y)),
            new XAttribute("width", "12"), new XAttribute("height", "12"), new XAttribute("fill", series.Color)));
        svg.Add(Text(x + 18, y + 10, series.Name, "start", 12));
    }

    private static XElement GridLine(double x1, double y1, double x2, double y2) => new(Ns + "line",
        new XAttribute("x1", Fmt(x1)), new XAttribute("y1", Fmt(y1)), new XAttribute("x2", Fmt(x2)), new XAttribute("y2", Fmt(y2)),
        new XAttribute("stroke", "#ddd"));

    private static XElement Text(double x, double y, string text, string anchor, int size, bool bold = false)
    {
        var e = new XElement(Ns + "text", new XAttribute("x", Fmt(x)), new XAttribute("y", Fmt(y)),
            new XAttribute("text-anchor", anchor), new XAttribute("font-size", size.ToString(CultureInfo.InvariantCulture)), text);
        if (bold) e.Add(new XAttribute("font-weight", "bold"));
        return e;
    }

    /// <summary>The y-axis top for a maximum of v: five ticks of a round step (1, 2, 2.5 or 5 times a power of ten).</summary>
    public static double NiceCeiling(double v) => v > 0 ? 5 * NiceStep(v / 5) : 1;

    private static double NiceStep(double raw)
    {
        if (!(raw > 0)) return 1;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var f = raw / magnitude;
        var nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
        return nice * magnitude;
    }

    private static string Fmt(double v) => Math.Round(v, 2).ToString("0.##", CultureInfo.InvariantCulture);
}
