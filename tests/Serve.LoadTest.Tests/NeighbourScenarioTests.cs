using System.Text.Json;
using Serve.LoadTest.Client;
using Serve.LoadTest.Metrics;
using Serve.LoadTest.Mock;
using Serve.LoadTest.Reports;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Simulations;
using Serve.LoadTest.Thresholds;
using Serve.LoadTest.Workloads;

namespace Serve.LoadTest.Tests;

/// <summary>What the noisy-neighbour and heavy-preparation scenarios need: scenarios as different clients, readers
/// that stall, generated heavy payloads, and thresholds on one phase relative to another.</summary>
public sealed class NeighbourScenarioTests
{
    private static StatsReport Stats(string name, double ttftP95) => new()
    {
        Name = name,
        Sent = 10,
        Ok = 10,
        Ttft = new LatencySummary { Count = ttftP95 > 0 ? 10 : 0, P95 = ttftP95 },
        Tpot = new(),
        Itl = new(),
        E2e = new LatencySummary { Count = 10, P95 = 50 },
        ErrorsByStatus = new Dictionary<string, long>(),
        ErrorsByKind = new Dictionary<string, long>(),
    };

    private static PhaseReport Phase(string name, double ttftP95) => new() { Name = name, Kind = "ConstantConcurrency", Stats = Stats(name, ttftP95) };

    [Fact]
    public void Thresholds_OnAPhase_AndOnItsRatioToAnother()
    {
        var phases = new[] { Phase("idle", 100), Phase("noisy", 250), Phase("empty", 0) };
        var results = ThresholdEvaluator.Evaluate(
        [
            new ThresholdSpec { Metric = "ttft.p95", Phase = "noisy", RelativeTo = "idle", Max = 3 },
            new ThresholdSpec { Metric = "ttft.p95", Phase = "noisy", RelativeTo = "idle", Max = 2 },
            new ThresholdSpec { Metric = "ttft.p95", Phase = "noisy", Max = 300 },
            new ThresholdSpec { Metric = "ttft.p95", Phase = "noisy", RelativeTo = "empty", Max = 1000 }, // no samples: fails
        ], Stats("s", 200), [], phases);
        Assert.Equal([true, false, true, false], results.Select(r => r.Passed));
        Assert.Equal(2.5, results[0].Actual, 9);
        Assert.Equal(" [phase noisy / idle]", results[0].ScopeText);
        Assert.Equal(" [phase noisy]", results[2].ScopeText);
    }

    [Theory]
    [InlineData("""{"metric":"ttft.p95","relativeTo":"idle","max":3}""", "relativeTo but no phase")]
    [InlineData("""{"metric":"ttft.p95","phase":"missing","max":3}""", "does not have")]
    [InlineData("""{"metric":"ttft.p95","phase":"idle","adapter":"a","max":3}""", "both a phase and an adapter")]
    public void Parse_RefusesPhaseThresholdsThatCannotBeEvaluated(string threshold, string expected)
    {
        var json = $$"""
            { "name": "x", "scenarios": [ { "name": "s", "workload": { "adapters": { "names": ["a"] } },
              "phases": [ { "name": "idle", "kind": "constant-concurrency", "concurrency": 1, "duration": "1s" } ],
              "thresholds": [ {{threshold}} ] } ] }
            """;
        Assert.Contains(expected, Assert.Throws<ScenarioException>(() => ScenarioFile.Parse(json)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HeavyPayload_IsGenerated_AtTheAskedSizes()
    {
        var workload = new WorkloadSpec { Heavy = new HeavyPayloadSpec { GrammarAlternatives = 1000, SchemaEnumValues = 300, PromptBytes = 12345 } };
        var plan = new RequestPlan("base", null, "short", 2, 8, false, 0.7, null, false);
        using var doc = JsonDocument.Parse(RequestBody.Write(plan, EndpointKind.Chat, workload));
        var root = doc.RootElement;
        Assert.Equal(1000, root.GetProperty("grammar").GetString()!.Split(" | ").Length);
        Assert.Equal(300, root.GetProperty("response_format").GetProperty("json_schema").GetProperty("schema").GetProperty("properties").GetProperty("value").GetProperty("enum").GetArrayLength());
        Assert.Equal(12345, root.GetProperty("messages")[0].GetProperty("content").GetString()!.Length);
    }

    [Fact]
    public async Task ScenarioApiKey_MakesItsOwnClient_AndStalledReadersAreRecordedAsStalled()
    {
        await using var target = await LiveTarget.StartAsync(new MockServerOptions { ApiKey = "sk-scenario", ItlMs = 1 }, allowReal: false);
        var spec = ScenarioHarness.Tiny("stall", new WorkloadSpec
        {
            OutputTokens = LengthDistribution.Fixed(4),
            StallAfterHeaders = TimeSpan.FromMilliseconds(50),
        }, new PhaseSpec { Kind = PhaseKind.ConstantConcurrency, Concurrency = 2, Duration = TimeSpan.FromSeconds(10) }, maxRequests: 6);
        spec = spec with
        {
            Target = spec.Target with { ApiKey = "sk-wrong-for-the-target" },
            Scenarios = [spec.Scenarios[0] with { ApiKey = "sk-scenario" }],
        };
        var result = await LoadRunner.RunAsync(spec, new RunOptions { BaseUrl = target.BaseUrl });
        var s = result.Report.Scenarios[0].Stats;
        Assert.Equal(6, s.Failed);
        Assert.Equal(6, s.ErrorsByKind["stalled"]);
        Assert.Equal(6, s.ErrorsByStatus["200"]); // the key was accepted: it is the scenario's, not the target's
    }
}
