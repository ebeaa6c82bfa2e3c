using Serve.Gateway.LoadBalancing;

namespace Serve.Gateway.Tests.LoadBalancing;

public sealed class RendezvousHashTests
{
    private static readonly string[] Keys = Enumerable.Range(0, 2000).Select(i => $"adapter-{i}").ToArray();

    private static string Home(string key, string[] replicas) => replicas[RendezvousHash.Rank(key, replicas)[0]];

    [Fact]
    public void Rank_SameReplicasInAnyOrder_SameRanking()
    {
        string[] a = ["r1", "r2", "r3", "r4"];
        string[] b = ["r3", "r1", "r4", "r2"];
        foreach (var key in Keys.Take(200))
            Assert.Equal(RendezvousHash.Rank(key, a).Select(i => a[i]), RendezvousHash.Rank(key, b).Select(i => b[i]));
    }

    [Fact]
    public void Hash_IsAFixedFunction_NotProcessRandomised()
    {
        // Every gateway process must rank alike: pin two values of the function.
        Assert.Equal(RendezvousHash.Hash("adapter-a"), RendezvousHash.Hash("adapter-a"));
        Assert.NotEqual(RendezvousHash.Hash("adapter-a"), RendezvousHash.Hash("adapter-b"));
        Assert.Equal(3446339894016396534UL, RendezvousHash.Hash("serve"));
    }

    [Fact]
    public void Rank_ThreeReplicas_SpreadsKeysEvenly()
    {
        string[] replicas = ["replica-1", "replica-2", "replica-3"];
        var counts = Keys.GroupBy(k => Home(k, replicas)).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(3, counts.Count);
        // 2000 keys over 3 replicas: each within ±20% of 667.
        Assert.All(counts.Values, c => Assert.InRange(c, 533, 800));
    }

    [Fact]
    public void Rank_ReplicaRemoved_OnlyItsKeysMove_ToTheirSecondChoice()
    {
        string[] four = ["replica-1", "replica-2", "replica-3", "replica-4"];
        string[] three = ["replica-1", "replica-2", "replica-4"];
        foreach (var key in Keys)
        {
            var before = RendezvousHash.Rank(key, four).Select(i => four[i]).ToArray();
            var after = Home(key, three);
            Assert.Equal(before[0] == "replica-3" ? before[1] : before[0], after);
        }
    }

    [Fact]
    public void Rank_ReplicaAdded_TakesAboutItsShare_FromEveryone()
    {
        string[] three = ["replica-1", "replica-2", "replica-3"];
        string[] four = [.. three, "replica-4"];
        var moved = Keys.Where(k => Home(k, three) != Home(k, four)).ToArray();
        // Only keys now homed on the new replica move, about a quarter of them.
        Assert.All(moved, k => Assert.Equal("replica-4", Home(k, four)));
        Assert.InRange(moved.Length, 400, 600);
    }
}
