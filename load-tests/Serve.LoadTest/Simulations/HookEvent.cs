namespace Serve.LoadTest.Simulations;

/// <summary>What a hook did and when, in seconds from the run's start.</summary>
public sealed record HookEvent
{
    public required string Name { get; init; }
    public required string Action { get; init; }
    public double At { get; init; }
    public double? FiredAt { get; init; }
    public bool Succeeded { get; init; }
    public string? Detail { get; init; }
}
