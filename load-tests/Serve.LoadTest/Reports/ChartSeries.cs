namespace Serve.LoadTest.Reports;

/// <summary>One named line or bar group of a chart; NaN values are gaps.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<double> Values, string Color);
