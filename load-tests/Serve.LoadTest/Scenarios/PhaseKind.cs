namespace Serve.LoadTest.Scenarios;

/// <summary>Load simulations, in NBomber's terms.</summary>
public enum PhaseKind
{
    /// <summary>Closed loop: a fixed number of virtual users, each sends its next request when the last ends.</summary>
    ConstantConcurrency,

    /// <summary>Closed loop: the number of virtual users moves linearly from From to To.</summary>
    RampingConcurrency,

    /// <summary>Open loop: requests arrive at Rate per second regardless of responses.</summary>
    ConstantRate,

    /// <summary>Open loop: the arrival rate moves linearly from From to To per second.</summary>
    RampingRate,

    /// <summary>Nothing is sent (lets a server drain or a hook act).</summary>
    Pause,
}
