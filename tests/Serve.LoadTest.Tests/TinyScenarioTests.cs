using System.Text.Json;
using Serve.LoadTest.Mock;
using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Tests;

/// <summary>Tiny scenarios against a live endpoint over real HTTP on loopback: the counts must add up.</summary>
public sealed class TinyScenarioTests
{
    private static readonly MockServerOptions Mock = new() { Models = ["a", "b", "c"], TtftMs = 3, ItlMs = 1 };

    [Fact]
    public async Task ClosedLoop_WeightedMix_CountsTokensAndAdapterSplitAddUp()
    {
        await using var target = await LiveTarget.StartAsync(Mock);
        using var dir = new TempDirectory();
        var names = target.Adapters(3);
        var workload = new WorkloadSpec
        {
            Adapters = new AdapterMixSpec { Mix = AdapterMixKind.Weights, Names = names, Weights = new Dictionary<string, double> { [names[0]] = 6, [names[1]] = 3, [names[2]] = 1 } },
            PromptTokens = new LengthDistribution { Kind = DistributionKind.Uniform, Min = 8, Max = 64 },
            OutputTokens = new LengthDistribution { Kind = DistributionKind.Uniform, Min = 2, Max = 12 },
            StreamFraction = 0.5,
            Seed = 11,
        };
        var spec = ScenarioHarness.Tiny("weighted", workload,
            new PhaseSpec { Kind = PhaseKind.ConstantConcurrency, Concurrency = 8, Duration = TimeSpan.FromSeconds(30) },
            maxRequests: 400, warmUp: TimeSpan.FromMilliseconds(300));

        var (result, records) = await ScenarioHarness.RunAsync(spec, target.BaseUrl, dir.Path);

        var s = result.Report.Scenarios[0];
        var measured = records.Where(r => !r.GetProperty("warmUp").GetBoolean()).ToList();
        Assert.Equal(400, s.Stats.Sent);
        Assert.Equal(s.Stats.Sent, s.Stats.Ok + s.Stats.Failed);
        Assert.Equal(0, s.Stats.Failed);
        Assert.Equal(400, measured.Count);
        Assert.Equal(s.WarmUpRequests, records.Count - measured.Count);
        Assert.True(s.WarmUpRequests > 0, "the warm-up sent requests");
        Assert.Equal(measured.Count, measured.Select(r => r.GetProperty("seq").GetInt64()).Distinct().Count());
        Assert.Equal(s.Stats.Sent, s.Adapters.Sum(a => a.Sent));
        Assert.Equal(s.Stats.OutputTokens, s.Adapters.Sum(a => a.OutputTokens));
        Assert.Equal(s.Stats.OutputTokens, measured.Sum(r => r.GetProperty("outputTokens").GetInt32()));

        // The mix asked for 60/30/10: each share within 4 standard deviations of a binomial at n = 400.
        foreach (var a in s.Adapters)
        {
            var p = a.ExpectedShare!.Value;
            var tolerance = 4 * Math.Sqrt(p * (1 - p) / s.Stats.Sent);
            Assert.InRange(a.Share!.Value, p - tolerance, p + tolerance);
        }

        var streaming = measured.Where(r => r.GetProperty("stream").GetBoolean()).ToList();
        Assert.InRange(streaming.Count, 140, 260);
        Assert.Equal(streaming.Count, s.Stats.Ttft.Count);
        Assert.Equal(s.Stats.Sent, s.Stats.E2e.Count);
        Assert.All(measured, r => Assert.True(r.GetProperty("e2eMs").GetDouble() > 0));
        if (target.IsMock)
        {
            // The mock honours max_tokens exactly, streams one token per chunk and reports usage.
            Assert.Equal(measured.Sum(r => r.GetProperty("maxTokens").GetInt32()), s.Stats.OutputTokens);
            Assert.All(streaming, r => Assert.Equal(r.GetProperty("maxTokens").GetInt32(), r.GetProperty("contentChunks").GetInt32()));
            Assert.Equal(streaming.Sum(r => r.GetProperty("maxTokens").GetInt32() - 1), s.Stats.Itl.Count);
            Assert.Equal(1.0, s.Stats.UsageCoverage);
            Assert.Equal(400 + s.WarmUpRequests, target.Mock.Requests);
            // TTFT includes the server's 3 ms first-token delay.
            Assert.True(s.Stats.Ttft.P50 >= 3, $"TTFT p50 {s.Stats.Ttft.P50} ms");
        }
    }

    [Fact]
    public async Task ClosedLoop_ConstantConcurrency_NeverExceedsItsUsers()
    {
        await using var target = await LiveTarget.StartAsync(Mock with { TtftMs = 20, ItlMs = 2 }, allowReal: false);
        using var dir = new TempDirectory();
        var spec = ScenarioHarness.Tiny("users", new WorkloadSpec { Adapters = new AdapterMixSpec { Names = ["a"] }, OutputTokens = LengthDistribution.Fixed(4) },
            new PhaseSpec { Kind = PhaseKind.ConstantConcurrency, Concurrency = 5, Duration = TimeSpan.FromSeconds(1.5) });

        var (result, records) = await ScenarioHarness.RunAsync(spec, target.BaseUrl, dir.Path);

        Assert.Equal(5, target.Mock.MaxConcurrent);
        // Users do not idle: their requests cover most of 5 users x the phase (a count would depend on how busy the
        // machine is; ~270 on an idle one, under 100 on a loaded one).
        var s = result.Report.Scenarios[0];
        Assert.True(s.Stats.Ok >= 20, $"{s.Stats.Ok} requests");
        var busy = records.Sum(r => r.GetProperty("end").GetDouble() - r.GetProperty("start").GetDouble());
        var phase = s.Phases[0].End - s.Phases[0].Start;
        Assert.True(busy >= 0.5 * 5 * phase, $"requests in flight {busy:F2} s of {5 * phase:F2} user-seconds");
    }

    [Fact]
    public async Task ClosedLoop_ThinkTime_PacesEachUser()
    {
        await using var target = await LiveTarget.StartAsync(Mock with { TtftMs = 0, ItlMs = 0 }, allowReal: false);
        using var dir = new TempDirectory();
        var spec = ScenarioHarness.Tiny("think", new WorkloadSpec { Adapters = new AdapterMixSpec { Names = ["a"] }, OutputTokens = LengthDistribution.Fixed(2) },
            new PhaseSpec { Kind = PhaseKind.ConstantConcurrency, Concurrency = 2, Duration = TimeSpan.FromSeconds(1.5), ThinkTime = TimeSpan.FromMilliseconds(250) });

        var (result, records) = await ScenarioHarness.RunAsync(spec, target.BaseUrl, dir.Path);

        // Each user: a request, 250 ms of thinking, ...: at most 6 requests in 1.5 s, so at most 12 in all.
        Assert.InRange(result.Report.Scenarios[0].Stats.Sent, 6, 12);
        var starts = records.Select(r => r.GetProperty("start").GetDouble()).Order().ToArray();
        Assert.True(starts.Zip(starts.Skip(2)).All(p => p.Second - p.First >= 0.2), "two users cannot start three requests within one think time");
    }

    [Fact]
    public async Task OpenLoop_PoissonConstantAndRampingRate_SendAboutTheAskedNumber()
    {
        await using var target = await LiveTarget.StartAsync(Mock, allowReal: false);
        using var dir = new TempDirectory();
        var workload = new WorkloadSpec { Adapters = new AdapterMixSpec { Names = ["a", "b"] }, OutputTokens = LengthDistribution.Fixed(3) };
        var spec = ScenarioHarness.Tiny("open", workload,
            new PhaseSpec { Kind = PhaseKind.ConstantRate, Rate = 200, Duration = TimeSpan.FromSeconds(2) });
        spec = spec with
        {
            Scenarios = [spec.Scenarios[0] with
            {
                Phases =
                [
                    new PhaseSpec { Name = "constant", Kind = PhaseKind.ConstantRate, Rate = 200, Duration = TimeSpan.FromSeconds(2) },
                    new PhaseSpec { Name = "ramp", Kind = PhaseKind.RampingRate, From = 0, To = 200, Duration = TimeSpan.FromSeconds(2) },
                ],
            }],
        };

        var (result, records) = await ScenarioHarness.RunAsync(spec, target.BaseUrl, dir.Path);

        var byPhase = records.GroupBy(r => r.GetProperty("phase").GetString()).ToDictionary(g => g.Key!, g => g.Count());
        // Poisson counts: 400 expected (sd 20) and 200 expected (sd 14); allow for a busy machine's timer.
        Assert.InRange(byPhase["constant"], 320, 480);
        Assert.InRange(byPhase["ramp"], 150, 260);
        var s = result.Report.Scenarios[0];
        Assert.Equal(["constant", "ramp"], s.Phases.Select(p => p.Name));
        Assert.True(s.Phases[1].Start >= s.Phases[0].End - 0.05);
        Assert.Equal(byPhase["constant"], s.Phases[0].Stats.Sent);
        Assert.Equal(byPhase["ramp"], s.Phases[1].Stats.Sent);
        Assert.Equal(s.Stats.Sent, s.Phases.Sum(p => p.Stats.Sent));
        Assert.Equal(s.Stats.Sent, s.Stats.Ok + s.Stats.Failed);
        // Arrivals in the ramp come later on average: the second half of the ramp carries about 3/4 of them (a
        // constant rate would give 1/2). The records hold actual send times, and a stalled machine sends arrivals
        // that fell due during the stall late, which only ever moves them later: hence the wide upper bound
        // (CI once saw 0.945 on a loaded runner).
        var rampStart = s.Phases[1].Start;
        var ramp = records.Where(r => r.GetProperty("phase").GetString() == "ramp").Select(r => r.GetProperty("start").GetDouble() - rampStart).ToList();
        Assert.InRange(ramp.Count(t => t >= 1.0) / (double)ramp.Count, 0.62, 0.99);
    }

    [Fact]
    public async Task Failures_AreCountedByStatusAndKind()
    {
        await using var target = await LiveTarget.StartAsync(Mock with { FailureRate = 0.3 }, allowReal: false);
        using var dir = new TempDirectory();
        var spec = ScenarioHarness.Tiny("failing", new WorkloadSpec { Adapters = new AdapterMixSpec { Names = ["a", "b", "missing"] }, OutputTokens = LengthDistribution.Fixed(3) },
            new PhaseSpec { Kind = PhaseKind.ConstantConcurrency, Concurrency = 4, Duration = TimeSpan.FromSeconds(30) }, maxRequests: 300);

        var (result, records) = await ScenarioHarness.RunAsync(spec, target.BaseUrl, dir.Path);

        var s = result.Report.Scenarios[0].Stats;
        Assert.Equal(300, s.Sent);
        Assert.Equal(s.Sent, s.Ok + s.Failed);
        Assert.Equal(s.Failed, s.ErrorsByStatus.Values.Sum());
        Assert.Equal(s.Failed, s.ErrorsByKind.Values.Sum());
        Assert.Equal(s.Failed, records.Count(r => !r.GetProperty("ok").GetBoolean()));
        // "missing" is not a model: 404 model_not_found, shaped like OpenAI's errors.
        var missing = result.Report.Scenarios[0].Adapters.Single(a => a.Name == "missing");
        Assert.Equal(0, missing.Ok);
        Assert.Equal(missing.Sent, missing.ErrorsByStatus["404"]);
        Assert.True(s.ErrorsByStatus["500"] > 0);
        Assert.True(s.ErrorsByStatus["429"] > 0);
        Assert.True(s.ErrorsByKind["server_error"] > 0);
        Assert.True(s.ErrorsByKind["rate_limit_error"] > 0);
        Assert.Equal(missing.Sent, s.ErrorsByKind["invalid_request_error"]);
        Assert.All(records.Where(r => r.GetProperty("status").GetInt32() == 429),
            r => Assert.Equal(1.0, r.GetProperty("retryAfterSeconds").GetDouble()));
        Assert.Equal(Math.Round((double)s.Failed / s.Sent, 6), s.ErrorRate);
    }

    [Fact]
    public async Task RepeatedDeterministicRequests_HitTheResponseCache()
    {
        await using var target = await LiveTarget.StartAsync(Mock, allowReal: false);
        using var dir = new TempDirectory();
        var workload = new WorkloadSpec
        {
            Adapters = new AdapterMixSpec { Names = ["a", "b"] },
            OutputTokens = LengthDistribution.Fixed(4),
            SystemPrompt = new SystemPromptSpec { Tokens = 32 },
            Repeat = new RepeatSpec { Fraction = 0.8, Pool = 4 },
            Seed = 5,
        };
        var spec = ScenarioHarness.Tiny("cache", workload,
            new PhaseSpec { Kind = PhaseKind.ConstantConcurrency, Concurrency = 2, Duration = TimeSpan.FromSeconds(30) }, maxRequests: 200);

        var (result, records) = await ScenarioHarness.RunAsync(spec, target.BaseUrl, dir.Path);

        var s = result.Report.Scenarios[0].Stats;
        var repeated = records.Count(r => r.GetProperty("repeated").GetBoolean());
        var hits = records.Count(r => r.GetProperty("cacheHit").GetBoolean());
        Assert.InRange(repeated, 130, 190);
        // Every repeat but the first of each pool entry is a hit (2 users: a first copy may race its twin).
        Assert.InRange(hits, repeated - 8, repeated - 4);
        Assert.Equal(hits, s.CacheHits);
        Assert.Equal(Math.Round((double)hits / s.Ok, 6), s.CacheHitRate);
        Assert.All(records.Where(r => r.GetProperty("cacheHit").GetBoolean()), r => Assert.True(r.GetProperty("repeated").GetBoolean()));
    }

    [Fact]
    public async Task Goodput_CountsOnlyRequestsWithinEverySlo()
    {
        using var dir = new TempDirectory();
        // Outputs of 2 to 40 tokens at 4 ms each: only the shorter ones meet a 60 ms end-to-end SLO.
        await using var slow = await LiveTarget.StartAsync(Mock with { TtftMs = 0, ItlMs = 4 }, allowReal: false);
        var workload = new WorkloadSpec
        {
            Adapters = new AdapterMixSpec { Names = ["a"] },
            OutputTokens = new LengthDistribution { Kind = DistributionKind.Uniform, Min = 2, Max = 40 },
            Seed = 9,
        };
        var spec = ScenarioHarness.Tiny("slo", workload,
            new PhaseSpec { Kind = PhaseKind.ConstantConcurrency, Concurrency = 4, Duration = TimeSpan.FromSeconds(30) },
            maxRequests: 120, slo: new SloSpec { E2eMs = 60 });

        var (result, records) = await ScenarioHarness.RunAsync(spec, slow.BaseUrl, dir.Path);

        var s = result.Report.Scenarios[0].Stats;
        var meeting = records.Count(r => r.GetProperty("meetsSlo").GetBoolean());
        Assert.Equal(records.Count(r => r.GetProperty("ok").GetBoolean() && r.GetProperty("e2eMs").GetDouble() <= 60), meeting);
        Assert.InRange(meeting, 5, 115);
        Assert.Equal(Math.Round((double)meeting / s.Sent, 6), s.GoodputRatio);
        Assert.True(s.Goodput < s.Rps);
    }
}
