namespace Serve.LoadTest.Scenarios;

/// <summary>One load simulation; a scenario chains them in order.</summary>
public sealed record PhaseSpec
{
    public string? Name { get; init; }
    public PhaseKind Kind { get; init; } = PhaseKind.ConstantConcurrency;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Virtual users for ConstantConcurrency.</summary>
    public int Concurrency { get; init; } = 1;

    /// <summary>Requests per second for ConstantRate.</summary>
    public double Rate { get; init; } = 1;

    /// <summary>Start and end level of a ramp: users (RampingConcurrency) or requests/s (RampingRate).</summary>
    public double From { get; init; }
    public double To { get; init; }

    public ArrivalKind Arrival { get; init; } = ArrivalKind.Poisson;

    /// <summary>Closed loop: how long a user waits after a response before its next request (a person reading).</summary>
    public TimeSpan ThinkTime { get; init; }

    /// <summary>Stop this phase early after this many requests.</summary>
    public long? MaxRequests { get; init; }

    public string DisplayName(int index) => Name ?? $"{index + 1}:{Kind}";

    public void Validate(string where)
    {
        if (Duration <= TimeSpan.Zero) throw new ScenarioException($"{where}: duration must be > 0");
        if (ThinkTime < TimeSpan.Zero) throw new ScenarioException($"{where}: thinkTime must be >= 0");
        switch (Kind)
        {
            case PhaseKind.ConstantConcurrency when Concurrency < 1:
                throw new ScenarioException($"{where}: concurrency must be >= 1");
            case PhaseKind.ConstantRate when Rate <= 0:
                throw new ScenarioException($"{where}: rate must be > 0");
            case PhaseKind.RampingConcurrency or PhaseKind.RampingRate when From < 0 || To < 0 || (From == 0 && To == 0):
                throw new ScenarioException($"{where}: a ramp needs from/to >= 0, not both 0");
        }
    }
}
