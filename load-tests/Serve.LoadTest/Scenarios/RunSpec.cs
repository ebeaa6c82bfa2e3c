namespace Serve.LoadTest.Scenarios;

/// <summary>One scenario file: a target, the scenarios that run against it together, and hooks.</summary>
public sealed record RunSpec
{
    public string Name { get; init; } = "run";
    public string? Description { get; init; }
    public TargetSpec Target { get; init; } = new();
    public IReadOnlyList<ScenarioSpec> Scenarios { get; init; } = [];
    public IReadOnlyList<HookSpec> Hooks { get; init; } = [];

    /// <summary>Hard stop for the whole run, in-flight requests included.</summary>
    public TimeSpan MaxDuration { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Width of one time-series bucket in the reports.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(1);
}
