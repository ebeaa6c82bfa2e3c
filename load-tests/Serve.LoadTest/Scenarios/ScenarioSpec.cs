namespace Serve.LoadTest.Scenarios;

/// <summary>A named workload driven by a chain of load simulations; scenarios of one run go concurrently.</summary>
public sealed record ScenarioSpec
{
    public string Name { get; init; } = "scenario";
    public WorkloadSpec Workload { get; init; } = new();
    /// <summary>This scenario's own Bearer key (literal or "env:NAME"), so scenarios can be different clients; null = the target's.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Load at the first phase's starting level for this long; its requests are not measured.</summary>
    public TimeSpan WarmUp { get; init; }

    public IReadOnlyList<PhaseSpec> Phases { get; init; } = [];

    /// <summary>Stop sending after this many measured requests.</summary>
    public long? MaxRequests { get; init; }

    public SloSpec Slo { get; init; } = new();
    public IReadOnlyList<ThresholdSpec> Thresholds { get; init; } = [];
}
