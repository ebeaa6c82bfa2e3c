using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Serve.Gateway.Hosting;
using Serve.Gateway.LoadBalancing;
using Serve.Gateway.Routing;
using Yarp.ReverseProxy.Model;

namespace Serve.Gateway.Tests.LoadBalancing;

public sealed class AdapterAffinityPolicyTests
{
    private static readonly string[] Ids = ["replica-1", "replica-2", "replica-3"];

    private static AdapterAffinityPolicy Policy(double loadFactor = 0.25, int minimumLoad = 4) =>
        new(new StaticOptions(new GatewayOptions { Affinity = new AffinityOptions { LoadFactor = loadFactor, MinimumLoad = minimumLoad } }));

    private static DestinationState[] Destinations(params int[] inFlight) =>
        Ids.Select((id, i) => new DestinationState(id) { ConcurrentRequestCount = inFlight.Length > i ? inFlight[i] : 0 }).ToArray();

    private static HttpContext Request(string? model)
    {
        var context = new DefaultHttpContext();
        context.Features.Set(new RoutingKeyFeature(model));
        return context;
    }

    private static int[] Ranking(string model) => RendezvousHash.Rank(model, Ids);

    [Fact]
    public void PickDestination_NoLoad_PicksTheAdaptersHome()
    {
        var destinations = Destinations();
        foreach (var model in new[] { "a", "b", "c", "sql-expert", "base" })
        {
            var context = Request(model);
            var picked = Policy().PickDestination(context, new ClusterState("replicas"), destinations);
            Assert.Same(destinations[Ranking(model)[0]], picked);
            Assert.Equal(0, context.Features.Get<AffinityDecision>()!.Rank);
        }
    }

    [Fact]
    public void PickDestination_HomeOverloaded_SpillsToSecondInRanking()
    {
        var rank = Ranking("a");
        var load = new int[3];
        load[rank[0]] = 10; // total 10 → capacity max(4, ⌈1.25·11/3⌉ = 5): home is over it
        var destinations = Destinations(load);
        var context = Request("a");
        var picked = Policy().PickDestination(context, new ClusterState("replicas"), destinations);
        Assert.Same(destinations[rank[1]], picked);
        var decision = context.Features.Get<AffinityDecision>()!;
        Assert.True(decision.Spilled);
        Assert.Equal(Ids[rank[0]], decision.Home);
    }

    [Fact]
    public void PickDestination_HomeAndSecondOverloaded_SpillsToThird()
    {
        var rank = Ranking("a");
        var load = new int[3];
        load[rank[0]] = 9;
        load[rank[1]] = 9; // capacity max(4, ⌈1.25·19/3⌉ = 8)
        var destinations = Destinations(load);
        Assert.Same(destinations[rank[2]], Policy().PickDestination(Request("a"), new ClusterState("replicas"), destinations));
    }

    [Fact]
    public void PickDestination_HomeBusyButBelowMinimumLoad_StaysHome()
    {
        var rank = Ranking("a");
        var load = new int[3];
        load[rank[0]] = 7; // (1+ε)·avg would be 4, but a replica batches: 8 are allowed
        var destinations = Destinations(load);
        Assert.Same(destinations[rank[0]], Policy(minimumLoad: 8).PickDestination(Request("a"), new ClusterState("replicas"), destinations));
        load[rank[0]] = 8;
        destinations = Destinations(load);
        Assert.Same(destinations[rank[1]], Policy(minimumLoad: 8).PickDestination(Request("a"), new ClusterState("replicas"), destinations));
    }

    [Fact]
    public void PickDestination_EvenLoad_WithinBound_StaysHome()
    {
        var destinations = Destinations(6, 6, 6); // capacity ⌈1.25·19/3⌉ = 8 ≥ 7
        Assert.Same(destinations[Ranking("b")[0]], Policy(minimumLoad: 1).PickDestination(Request("b"), new ClusterState("replicas"), destinations));
    }

    [Fact]
    public void PickDestination_NoModel_PicksLeastLoaded()
    {
        var destinations = Destinations(3, 1, 2);
        var context = Request(null);
        Assert.Same(destinations[1], Policy().PickDestination(context, new ClusterState("replicas"), destinations));
        Assert.False(context.Features.Get<AffinityDecision>()!.Spilled);
    }

    [Fact]
    public void PickDestination_NothingAvailable_ReturnsNull() =>
        Assert.Null(Policy().PickDestination(Request("a"), new ClusterState("replicas"), []));

    [Fact]
    public void PickDestination_SteadyConcurrentLoad_KeepsEachAdapterOnItsHome()
    {
        // Simulated steady state: 6 adapters, 12 requests in flight spread by the policy itself.
        var destinations = Destinations();
        var policy = Policy(minimumLoad: 8);
        var homes = 0;
        var total = 0;
        for (var round = 0; round < 50; round++)
        {
            foreach (var d in destinations) d.ConcurrentRequestCount = 0;
            for (var i = 0; i < 12; i++)
            {
                var model = $"adapter-{i % 6}";
                var picked = policy.PickDestination(Request(model), new ClusterState("replicas"), destinations)!;
                picked.ConcurrentRequestCount++;
                total++;
                if (picked == destinations[Ranking(model)[0]]) homes++;
            }
        }
        Assert.Equal(total, homes);
    }

    private sealed class StaticOptions(GatewayOptions value) : IOptionsMonitor<GatewayOptions>
    {
        public GatewayOptions CurrentValue => value;
        public GatewayOptions Get(string? name) => value;
        public IDisposable? OnChange(Action<GatewayOptions, string?> listener) => null;
    }
}
