namespace Serve.LoadTest.Scenarios;

public enum ArrivalKind
{
    /// <summary>Exponential gaps (a Poisson process), as independent users arrive.</summary>
    Poisson,

    /// <summary>Evenly spaced arrivals.</summary>
    Uniform,
}
