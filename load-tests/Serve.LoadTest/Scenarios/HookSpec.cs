namespace Serve.LoadTest.Scenarios;

/// <summary>Something done to the system under test at a fixed time into the run (after warm-up), e.g. kill a
/// replica behind the gateway; the report shows the error window that follows.</summary>
public sealed record HookSpec
{
    public string Name { get; init; } = "hook";
    public TimeSpan At { get; init; }
    public HookAction Action { get; init; } = HookAction.Kill;
    public string? PidFile { get; init; }
    public int? Pid { get; init; }
    public string? Command { get; init; }
}
