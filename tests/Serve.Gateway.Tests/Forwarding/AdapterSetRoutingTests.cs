using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Serve.Gateway.LoadBalancing;
using Serve.Gateway.Metrics;
using Serve.Gateway.Tests.Infrastructure;

namespace Serve.Gateway.Tests.Forwarding;

/// <summary>
/// Issue 16: a request using the "adapters" extension is routed by its sorted adapter set with the same
/// rendezvous-and-bounded-load rule as "model", so the set's adapters stay resident and batched on one replica
/// instead of everything landing on the base model's home.
/// </summary>
public sealed class AdapterSetRoutingTests
{
    private static readonly string[] Ids = ["r1", "r2", "r3"];

    /// <summary>Adapter sets as clients send them (any order, scales, a repeated name) and the key each is homed by.</summary>
    private static readonly (string Adapters, string Key)[] Sets =
    [
        ("""[{"name":"b","scale":0.5},{"name":"a","scale":0.5}]""", "a+b"),
        ("""[{"name":"a"},{"name":"b","scale":1.0}]""", "a+b"),
        ("""[{"name":"sql"},{"name":"pirate","scale":0.3},{"name":"mood"}]""", "mood+pirate+sql"),
        ("""[{"name":"json"}]""", "json"),
        ("""[{"name":"tools","scale":0.7},{"name":"tools","scale":0.2},{"name":"c"}]""", "c+tools"),
    ];

    [Fact]
    public async Task Forward_AdaptersExtension_UnderConcurrentLoad_AtLeast90PercentOnTheSetsHome()
    {
        await using var r1 = await FakeReplica.StartAsync("r1");
        await using var r2 = await FakeReplica.StartAsync("r2");
        await using var r3 = await FakeReplica.StartAsync("r3");
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri> { ["r1"] = r1.Address, ["r2"] = r2.Address, ["r3"] = r3.Address });
        // The sets do not all share the base model's home, so routing by "model" alone would fail this test.
        Assert.True(Sets.Select(s => Home(s.Key)).Distinct().Count() > 1);

        var landed = new ConcurrentBag<(string Key, string Replica)>();
        const int perWorker = 40;
        var workers = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            using var client = gateway.Client();
            for (var i = 0; i < perWorker; i++)
            {
                var (adapters, key) = Sets[(w + i) % Sets.Length];
                var body = $$"""{"model":"base","adapters":{{adapters}},"messages":[{"role":"user","content":"request {{w}}-{{i}}"}]}""";
                using var response = await client.PostAsync("/v1/echo", new StringContent(body, Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var echo = await response.Content.ReadFromJsonAsync<JsonElement>();
                landed.Add((key, echo.GetProperty("replica").GetString()!));
            }
        })).ToArray();
        await Task.WhenAll(workers);

        Assert.Equal(6 * perWorker, landed.Count);
        foreach (var group in landed.GroupBy(l => l.Key))
        {
            var share = group.Count(l => l.Replica == Home(group.Key)) / (double)group.Count();
            Assert.True(share >= 0.9, $"adapter set {group.Key}: only {share:P0} on its home {Home(group.Key)}");
        }
        // Keyed requests count as home (or spill), never as unkeyed.
        Assert.Equal(0, Ids.Sum(id => gateway.Metrics.RoutedCount(id, RoutingDecisions.Unkeyed)));
    }

    [Fact]
    public async Task Forward_SingleAdapterSet_SharesTheHomeOfThatAdapterAsModel()
    {
        await using var r1 = await FakeReplica.StartAsync("r1");
        await using var r2 = await FakeReplica.StartAsync("r2");
        await using var r3 = await FakeReplica.StartAsync("r3");
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri> { ["r1"] = r1.Address, ["r2"] = r2.Address, ["r3"] = r3.Address });
        using var client = gateway.Client();
        foreach (var adapter in new[] { "a", "b", "c", "d", "e", "f" })
        {
            var byModel = await ReplicaOf(client, $$"""{"model":"{{adapter}}","messages":[]}""");
            var bySet = await ReplicaOf(client, $$"""{"model":"base","adapters":[{"name":"{{adapter}}","scale":0.5}],"messages":[]}""");
            Assert.Equal(Home(adapter), byModel);
            Assert.Equal(byModel, bySet);
        }
    }

    private static string Home(string key) => Ids[RendezvousHash.Rank(key, Ids)[0]];

    private static async Task<string> ReplicaOf(HttpClient client, string body)
    {
        using var response = await client.PostAsync("/v1/echo", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("replica").GetString()!;
    }
}
