using System.Xml.Linq;

namespace Serve.LoadTest.Reports;

/// <summary>A chart of a scenario and the file name it is written under.</summary>
public sealed record ChartFile(string FileName, string Title, XElement Svg);
