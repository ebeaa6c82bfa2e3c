using Serve.LoadTest.Simulations;

namespace Serve.LoadTest.Reports;

/// <summary>The per-run JSON report.</summary>
public sealed record RunReport
{
    public string Tool { get; init; } = "serve-load";
    public required string Name { get; init; }
    public string? Description { get; init; }
    public required string Target { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public double DurationSeconds { get; init; }
    public double ReportIntervalSeconds { get; init; }
    public bool ThresholdsPassed { get; init; }
    public int ExitCode { get; init; }
    public required IReadOnlyList<ScenarioReport> Scenarios { get; init; }
    public required IReadOnlyList<HookEvent> Hooks { get; init; }
    public required IReadOnlyList<ErrorWindow> ErrorWindows { get; init; }
}
