using Serve.LoadTest.Mock;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Simulations;

namespace Serve.LoadTest.Tests;

/// <summary>The Bearer key reaches the server, from the file (literal or env:NAME) or the command line.</summary>
public sealed class ApiKeyTests
{
    [Fact]
    public async Task BearerKey_FromEnvironmentOrOption_IsSent_AndAWrongKeyIsA401()
    {
        await using var target = await LiveTarget.StartAsync(new MockServerOptions { ApiKey = "sk-load-test" }, allowReal: false);
        var spec = ScenarioHarness.Tiny("auth", new WorkloadSpec { OutputTokens = LengthDistribution.Fixed(2) },
            new PhaseSpec { Kind = PhaseKind.ConstantConcurrency, Concurrency = 2, Duration = TimeSpan.FromSeconds(10) }, maxRequests: 10);
        var variable = "SERVE_LOADTEST_KEY_" + Guid.NewGuid().ToString("N")[..8];
        Environment.SetEnvironmentVariable(variable, "sk-load-test");
        try
        {
            var fromEnv = await LoadRunner.RunAsync(spec with { Target = spec.Target with { ApiKey = "env:" + variable } }, new RunOptions { BaseUrl = target.BaseUrl });
            Assert.Equal(10, fromEnv.Report.Scenarios[0].Stats.Ok);

            var wrong = await LoadRunner.RunAsync(spec, new RunOptions { BaseUrl = target.BaseUrl, ApiKey = "sk-wrong" });
            var s = wrong.Report.Scenarios[0].Stats;
            Assert.Equal(10, s.Failed);
            Assert.Equal(10, s.ErrorsByStatus["401"]);
            Assert.Equal(10, s.ErrorsByKind["invalid_request_error"]);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }
}
