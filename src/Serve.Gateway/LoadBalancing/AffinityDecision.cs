namespace Serve.Gateway.LoadBalancing;

/// <summary>How the AdapterAffinity policy placed a request, for metrics: the adapter, and where in its ranking it landed.</summary>
public sealed class AffinityDecision
{
    public AffinityDecision(string? model, string home, int rank)
    {
        Model = model;
        Home = home;
        Rank = rank;
    }

    /// <summary>The routing key; null = the request had none and went to the least loaded replica.</summary>
    public string? Model { get; }

    /// <summary>The adapter's first-ranked replica among those available.</summary>
    public string Home { get; }

    /// <summary>0 = home; more = spilled that many places down the ranking by the bounded-load rule.</summary>
    public int Rank { get; }

    public bool Spilled => Model is not null && Rank > 0;
}
