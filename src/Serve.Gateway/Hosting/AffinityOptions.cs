using System.ComponentModel.DataAnnotations;

namespace Serve.Gateway.Hosting;

/// <summary>
/// Defaults of the AdapterAffinity policy (section "Gateway:Affinity"); a cluster's Metadata may override them with
/// "AdapterAffinity.LoadFactor" and "AdapterAffinity.MinimumLoad".
/// </summary>
public sealed class AffinityOptions
{
    /// <summary>
    /// ε of the bounded-load rule: a replica is overloaded when its in-flight requests would exceed
    /// (1+ε)·average, and the request spills to the next replica in the adapter's ranking.
    /// </summary>
    [Range(0.0, 100.0)]
    public double LoadFactor { get; set; } = 0.25;

    /// <summary>
    /// In-flight requests a replica may always take before it counts as overloaded: a replica batches several
    /// sequences at once (the engine's MaxSequences, 8 by default), so a handful is not a reason to leave home.
    /// </summary>
    [Range(1, 100_000)]
    public int MinimumLoad { get; set; } = 8;
}
