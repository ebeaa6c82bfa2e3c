using System.Globalization;
using Microsoft.Extensions.Options;
using Serve.Gateway.Hosting;
using Serve.Gateway.Routing;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Serve.Gateway.LoadBalancing;

/// <summary>
/// Sends each adapter to the replica that ranks first for it by rendezvous hashing, so an adapter stays loaded and
/// batched on few replicas, and spills down that adapter's ranking when a replica is overloaded: in-flight + 1 above
/// max(MinimumLoad, ⌈(1+ε)·(total in-flight + 1)/n⌉) (consistent hashing with bounded loads). A request using the
/// "adapters" extension is ranked by its sorted adapter set instead of its model. Requests without a
/// model go to the least loaded replica. Select it with a cluster's <c>"LoadBalancingPolicy": "AdapterAffinity"</c>.
/// </summary>
internal sealed class AdapterAffinityPolicy : ILoadBalancingPolicy
{
    public const string PolicyName = "AdapterAffinity";
    public const string LoadFactorMetadata = "AdapterAffinity.LoadFactor";
    public const string MinimumLoadMetadata = "AdapterAffinity.MinimumLoad";

    private readonly IOptionsMonitor<GatewayOptions> _options;

    public AdapterAffinityPolicy(IOptionsMonitor<GatewayOptions> options) => _options = options;

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count == 0) return null;
        var model = context.Features.Get<RoutingKeyFeature>()?.Key;
        if (model is null)
        {
            var least = LeastLoaded(availableDestinations);
            context.Features.Set(new AffinityDecision(null, availableDestinations[least].DestinationId, 0));
            return availableDestinations[least];
        }

        var ranking = RendezvousHash.Rank(model, availableDestinations.Select(d => d.DestinationId).ToArray());
        var capacity = Capacity(cluster, availableDestinations);
        for (var rank = 0; rank < ranking.Length; rank++)
        {
            var destination = availableDestinations[ranking[rank]];
            if (destination.ConcurrentRequestCount + 1 <= capacity)
            {
                context.Features.Set(new AffinityDecision(model, availableDestinations[ranking[0]].DestinationId, rank));
                return destination;
            }
        }

        // Unreachable while in-flight counts are consistent (someone is always at or below the average); kept
        // because the counters move concurrently with this read.
        var fallback = LeastLoaded(availableDestinations);
        context.Features.Set(new AffinityDecision(model, availableDestinations[ranking[0]].DestinationId, Array.IndexOf(ranking, fallback)));
        return availableDestinations[fallback];
    }

    /// <summary>The most in-flight requests a replica may hold after taking this one.</summary>
    private long Capacity(ClusterState cluster, IReadOnlyList<DestinationState> destinations)
    {
        var defaults = _options.CurrentValue.Affinity;
        var metadata = cluster.Model?.Config.Metadata;
        var loadFactor = Read(metadata, LoadFactorMetadata, defaults.LoadFactor);
        var minimum = Read(metadata, MinimumLoadMetadata, defaults.MinimumLoad);
        long total = 1;
        foreach (var d in destinations) total += Math.Max(0, d.ConcurrentRequestCount);
        var bounded = (long)Math.Ceiling((1 + loadFactor) * total / destinations.Count);
        return Math.Max(minimum, bounded);
    }

    private static int LeastLoaded(IReadOnlyList<DestinationState> destinations)
    {
        var best = 0;
        for (var i = 1; i < destinations.Count; i++)
            if (destinations[i].ConcurrentRequestCount < destinations[best].ConcurrentRequestCount) best = i;
        return best;
    }

    private static T Read<T>(IReadOnlyDictionary<string, string>? metadata, string key, T fallback) where T : IParsable<T> =>
        metadata is not null && metadata.TryGetValue(key, out var text) && T.TryParse(text, CultureInfo.InvariantCulture, out var value) ? value : fallback;
}
