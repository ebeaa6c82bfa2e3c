using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Serve.Gateway.LoadBalancing;
using Serve.Gateway.Tests.Infrastructure;
using OpenAI;
using OpenAI.Chat;
using Xunit.Abstractions;

namespace Serve.Gateway.Tests.EndToEnd;

/// <summary>
/// Three real Serve.Server processes (real llama.cpp on a made model, six adapters) behind a real Serve.Gateway
/// process, all on loopback, driven by the OpenAI SDK: adapter affinity under steady load, and a replica killed
/// (SIGKILL) mid-load.
/// </summary>
public sealed partial class ReplicaProcessTests(ModelFiles files, ITestOutputHelper output) : IClassFixture<ModelFiles>
{
    private const int Workers = 3;
    private static readonly TimeSpan LoadLimit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task SteadyLoad_EachAdapterLandsOnItsHomeReplica_MetricsCountEveryRequest_AndStreamsPassThrough()
    {
        await using var cluster = await LoopbackCluster.StartAsync(files);
        var ids = cluster.ReplicaIds;
        await using var load = AdapterLoad.Start(cluster.Gateway.Address, ModelFiles.AdapterNames, Workers, LoadLimit);
        Assert.True(await load.WaitUntilAsync(o => o.Count >= 90), $"only {load.Count} requests in {LoadLimit}{Environment.NewLine}{cluster.Diagnostics()}");
        var outcomes = await load.StopAsync();
        Report("steady load", outcomes);

        Assert.All(outcomes, o => Assert.True(o.Succeeded, $"{o.Adapter}: {o.Status} {o.Error}"));
        foreach (var adapter in ModelFiles.AdapterNames)
        {
            var (replica, share) = Mode(outcomes.Where(o => o.Adapter == adapter));
            Assert.True(share >= 0.9, $"adapter {adapter}: only {share:P0} on {replica}");
            // Under this light load nothing spills: the replica is the one rendezvous hashing ranks first.
            Assert.Equal(ids[RendezvousHash.Rank(adapter, ids)[0]], replica);
        }

        // The gateway's own per-replica routing counts agree with what the clients saw.
        using var http = new HttpClient { BaseAddress = cluster.Gateway.Address };
        var routed = RoutedByReplica(await http.GetStringAsync("/metrics"));
        foreach (var id in ids)
            Assert.Equal(outcomes.Count(o => o.Replica == id), routed.GetValueOrDefault(id));

        // A stream passes through the gateway event by event: the same greedy text as the whole answer.
        var chat = new ChatClient("a", new ApiKeyCredential("sk-unused"),
            new OpenAIClientOptions { Endpoint = new Uri(cluster.Gateway.Address, "v1"), RetryPolicy = new ClientRetryPolicy(maxRetries: 0) });
        var greedy = new ChatCompletionOptions { MaxOutputTokenCount = 16, Temperature = 0f };
        List<ChatMessage> messages = [new UserChatMessage("Describe the river.")];
        ChatCompletion whole = await chat.CompleteChatAsync(messages, greedy);
        var streamed = new StringBuilder();
        var updates = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, greedy))
        {
            updates++;
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
        }
        Assert.Equal(whole.Content[0].Text, streamed.ToString());
        Assert.True(updates > 2, $"{updates} stream updates");
    }

    [Fact]
    public async Task ReplicaKilledMidLoad_NewRequestsAllSucceed_AndAffinityResettlesOnSurvivors()
    {
        await using var cluster = await LoopbackCluster.StartAsync(files);
        var ids = cluster.ReplicaIds;
        await using var load = AdapterLoad.Start(cluster.Gateway.Address, ModelFiles.AdapterNames, Workers, LoadLimit);
        Assert.True(await load.WaitUntilAsync(o => ModelFiles.AdapterNames.All(a => o.Count(x => x.Adapter == a && x.Succeeded) >= 5)),
            $"only {load.Count} requests before the kill{Environment.NewLine}{cluster.Diagnostics()}");

        // The victim is the replica home to the most adapters (at least two of six over three replicas).
        var homes = ModelFiles.AdapterNames.ToDictionary(a => a, a => Mode(load.Outcomes.Where(o => o.Adapter == a && o.Succeeded)).Replica);
        var victim = homes.Values.GroupBy(r => r).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First().Key!;
        var orphans = homes.Where(h => h.Value == victim).Select(h => h.Key).ToArray();
        cluster.Replica(victim).Kill();
        var killed = System.Diagnostics.Stopwatch.GetTimestamp();

        var enough = await load.WaitUntilAsync(o => o.Count(x => x.Sent > killed) >= 90);
        var outcomes = await load.StopAsync();
        var before = outcomes.Where(o => o.Sent <= killed).ToArray();
        var after = outcomes.Where(o => o.Sent > killed).ToArray();
        Report($"before killing {victim}", before);
        Report($"after killing {victim} (orphaned adapters: {string.Join(", ", orphans)})", after);
        Assert.True(enough, $"only {after.Length} requests after the kill{Environment.NewLine}{cluster.Diagnostics()}");

        // Only requests in flight at the kill may fail: at most one per worker, and only ones the victim had.
        var failedBefore = before.Where(o => !o.Succeeded).ToArray();
        Assert.True(failedBefore.Length <= Workers, $"{failedBefore.Length} requests sent before the kill failed");
        Assert.All(failedBefore, o => Assert.Equal(victim, homes[o.Adapter]));
        // Every request sent after the kill succeeds, on a survivor.
        Assert.All(after, o => Assert.True(o.Succeeded, $"{o.Adapter} sent after the kill: {o.Status} {o.Error}"));
        Assert.DoesNotContain(after, o => o.Replica == victim);

        var survivors = ids.Where(id => id != victim).ToArray();
        foreach (var adapter in ModelFiles.AdapterNames)
        {
            var (replica, share) = Mode(after.Where(o => o.Adapter == adapter));
            Assert.True(share >= 0.9, $"adapter {adapter} after the kill: only {share:P0} on {replica}");
            // Orphans move to their next-ranked replica; every other adapter stays where it was (rendezvous hashing).
            var expected = orphans.Contains(adapter) ? survivors[RendezvousHash.Rank(adapter, survivors)[0]] : homes[adapter];
            Assert.Equal(expected, replica);
        }
    }

    private static (string? Replica, double Share) Mode(IEnumerable<Outcome> outcomes)
    {
        var list = outcomes.ToArray();
        if (list.Length == 0) return (null, 0);
        var top = list.GroupBy(o => o.Replica).OrderByDescending(g => g.Count()).First();
        return (top.Key, (double)top.Count() / list.Length);
    }

    private void Report(string phase, IEnumerable<Outcome> outcomes)
    {
        var list = outcomes.ToArray();
        output.WriteLine($"{phase}: {list.Length} requests, {list.Count(o => !o.Succeeded)} failed");
        foreach (var group in list.GroupBy(o => o.Adapter).OrderBy(g => g.Key, StringComparer.Ordinal))
            output.WriteLine($"  {group.Key}: " + string.Join(", ", group.GroupBy(o => o.Replica ?? $"failed({group.First(x => x.Replica is null).Status})").Select(g => $"{g.Key} x{g.Count()}")));
    }

    /// <summary>Sum of serve_gateway_routed_total over decisions, per replica, from the Prometheus text.</summary>
    private static Dictionary<string, int> RoutedByReplica(string metrics)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match m in RoutedLine().Matches(metrics))
            counts[m.Groups["replica"].Value] = counts.GetValueOrDefault(m.Groups["replica"].Value) + (int)double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
        return counts;
    }

    [GeneratedRegex("""^serve_gateway_routed_total\{replica="(?<replica>[^"]+)",decision="[^"]+"\} (?<value>[0-9.e+]+)$""", RegexOptions.Multiline)]
    private static partial Regex RoutedLine();
}
