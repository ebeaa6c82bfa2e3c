using Serve.LoadTest.Client;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Workloads;
using System.Text.Json;

namespace Serve.LoadTest.Tests;

public sealed class WorkloadTests
{
    [Fact]
    public void AdapterPicker_Zipf_ProbabilitiesFollowOneOverRankToTheSkew()
    {
        var picker = new AdapterPicker(new AdapterMixSpec { Mix = AdapterMixKind.Zipf, Skew = 1.5, Names = ["a", "b", "c", "d"] });
        var raw = new[] { 1, 1 / Math.Pow(2, 1.5), 1 / Math.Pow(3, 1.5), 1 / Math.Pow(4, 1.5) };
        for (var i = 0; i < 4; i++) Assert.Equal(raw[i] / raw.Sum(), picker.Probabilities[i], 12);

        var rng = new Random(3);
        var counts = Enumerable.Range(0, 40_000).Select(_ => picker.Pick(rng)).GroupBy(n => n).ToDictionary(g => g.Key, g => g.Count());
        for (var i = 0; i < 4; i++)
        {
            var p = picker.Probabilities[i];
            Assert.InRange(counts[picker.Names[i]] / 40_000.0, p - 0.015, p + 0.015);
        }
    }

    [Fact]
    public void AdapterPicker_UniformAndWeights()
    {
        Assert.All(new AdapterPicker(new AdapterMixSpec { Names = ["x", "y", "z"] }).Probabilities, p => Assert.Equal(1 / 3.0, p, 12));
        var weighted = new AdapterPicker(new AdapterMixSpec { Mix = AdapterMixKind.Weights, Names = ["x", "y", "z"], Weights = new Dictionary<string, double> { ["x"] = 1, ["z"] = 3 } });
        Assert.Equal([0.25, 0.0, 0.75], weighted.Probabilities);
        var rng = new Random(1);
        Assert.DoesNotContain("y", Enumerable.Range(0, 2000).Select(_ => weighted.Pick(rng)));
    }

    [Theory]
    [InlineData(DistributionKind.Uniform, 10, 20, 15, 3)]
    [InlineData(DistributionKind.Normal, 1, 1000, 200, 50)]
    [InlineData(DistributionKind.LogNormal, 1, 100_000, 200, 100)]
    public void LengthDistribution_StaysInBoundsWithTheAskedMean(DistributionKind kind, int min, int max, double mean, double sd)
    {
        var d = new LengthDistribution { Kind = kind, Min = min, Max = max, Mean = mean, StdDev = sd };
        var rng = new Random(7);
        var samples = Enumerable.Range(0, 20_000).Select(_ => d.Sample(rng)).ToArray();
        Assert.All(samples, v => Assert.InRange(v, min, max));
        Assert.InRange(samples.Average(), mean * 0.97, mean * 1.03);
        if (kind != DistributionKind.Uniform)
        {
            var actualSd = Math.Sqrt(samples.Select(v => (v - samples.Average()) * (v - samples.Average())).Average());
            Assert.InRange(actualSd, sd * 0.9, sd * 1.1);
        }
    }

    [Fact]
    public void RequestFactory_SameSeed_SameRequests_AndRepeatsAreIdenticalBodies()
    {
        var spec = new WorkloadSpec
        {
            Adapters = new AdapterMixSpec { Mix = AdapterMixKind.Zipf, Names = ["a", "b", "c"] },
            PromptTokens = new LengthDistribution { Kind = DistributionKind.Uniform, Min = 5, Max = 50 },
            SystemPrompt = new SystemPromptSpec { Tokens = 20, Variants = 2 },
            Repeat = new RepeatSpec { Fraction = 0.5, Pool = 3 },
            StreamFraction = 0.5,
        };
        var first = new RequestFactory(spec);
        var second = new RequestFactory(spec);
        var plans = Enumerable.Range(0, 200).Select(_ => first.Next()).ToList();
        Assert.Equal(plans, Enumerable.Range(0, 200).Select(_ => second.Next()));

        Assert.Equal(2, plans.Select(p => p.SystemPrompt).Distinct().Count());
        Assert.All(plans, p => Assert.Equal(p.PromptTokens, p.Prompt.Split(' ').Length - (p.Repeated ? 2 : 0)));
        var repeats = plans.Where(p => p.Repeated).ToList();
        Assert.InRange(repeats.Count, 70, 130);
        Assert.True(repeats.Select(p => p.Prompt).Distinct().Count() <= 3);
        Assert.All(repeats, p => Assert.Equal(0.0, p.Temperature));
        var bodies = repeats.Select(p => Convert.ToBase64String(RequestBody.Write(p, EndpointKind.Chat, spec))).Distinct().Count();
        Assert.True(bodies <= 3, "a repeated request is byte-for-byte the same body");
    }

    [Fact]
    public void RequestBody_ChatAndCompletions_AreOpenAiShaped()
    {
        var plan = new RequestPlan("adapter-x", "be brief", "hello there", 2, 7, Stream: true, Temperature: 0, Seed: 1234, Repeated: true);
        var workload = new WorkloadSpec { ExtraBody = new System.Text.Json.Nodes.JsonObject { ["top_p"] = 0.9 } };
        using var chat = JsonDocument.Parse(RequestBody.Write(plan, EndpointKind.Chat, workload));
        var c = chat.RootElement;
        Assert.Equal("adapter-x", c.GetProperty("model").GetString());
        Assert.Equal("system", c.GetProperty("messages")[0].GetProperty("role").GetString());
        Assert.Equal("hello there", c.GetProperty("messages")[1].GetProperty("content").GetString());
        Assert.Equal(7, c.GetProperty("max_tokens").GetInt32());
        Assert.True(c.GetProperty("stream").GetBoolean());
        Assert.True(c.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        Assert.Equal(1234, c.GetProperty("seed").GetInt32());
        Assert.Equal(0.9, c.GetProperty("top_p").GetDouble());

        using var completion = JsonDocument.Parse(RequestBody.Write(plan with { Stream = false }, EndpointKind.Completions, new WorkloadSpec()));
        var p = completion.RootElement;
        Assert.Equal("be brief\n\nhello there", p.GetProperty("prompt").GetString());
        Assert.False(p.TryGetProperty("stream_options", out _));
    }

    [Fact]
    public void RequestBody_AdapterBodies_AddFieldsForTheirAdapterOnly_AndWinOverExtraBody()
    {
        var workload = ScenarioFile.Parse("""
            { "scenarios": [ { "phases": [ { "kind": "pause", "duration": "1s" } ], "workload": {
                "adapters": { "names": ["base", "a"] },
                "extraBody": { "lora": [], "ignore_eos": true },
                "adapterBodies": { "a": { "lora": [ { "id": 0, "scale": 1 } ] } } } } ] }
            """, "test").Scenarios[0].Workload;
        var plan = new RequestPlan("a", null, "hello", 1, 4, Stream: false, Temperature: 0, Seed: null, Repeated: false);
        using var forA = JsonDocument.Parse(RequestBody.Write(plan, EndpointKind.Completions, workload));
        var lora = forA.RootElement.GetProperty("lora");
        Assert.Equal(1, lora.GetArrayLength());
        Assert.Equal(0, lora[0].GetProperty("id").GetInt32());
        Assert.True(forA.RootElement.GetProperty("ignore_eos").GetBoolean());
        Assert.Single(forA.RootElement.EnumerateObject(), p => p.Name == "lora");

        using var forBase = JsonDocument.Parse(RequestBody.Write(plan with { Adapter = "base" }, EndpointKind.Completions, workload));
        Assert.Equal(0, forBase.RootElement.GetProperty("lora").GetArrayLength());

        var bad = Assert.Throws<ScenarioException>(() => ScenarioFile.Parse("""
            { "scenarios": [ { "phases": [ { "kind": "pause", "duration": "1s" } ], "workload": {
                "adapters": { "names": ["base"] }, "adapterBodies": { "typo": { "lora": [] } } } } ] }
            """, "test"));
        Assert.Contains("adapterBodies names 'typo'", bad.Message);
    }
}
