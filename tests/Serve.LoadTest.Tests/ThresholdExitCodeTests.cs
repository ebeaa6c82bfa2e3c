using System.Text.Json.Nodes;
using Serve.LoadTest.Cli;
using Serve.LoadTest.Mock;

namespace Serve.LoadTest.Tests;

/// <summary>The command line's exit code is the thresholds' verdict.</summary>
public sealed class ThresholdExitCodeTests
{
    private static string ScenarioJson(string thresholds) => $$"""
        {
          // comments and trailing commas are allowed in scenario files
          "name": "exit-code",
          "target": { "baseUrl": "http://127.0.0.1:9" },
          "reportInterval": "250ms",
          "scenarios": [
            {
              "name": "tiny",
              "workload": { "adapters": { "names": ["a"] }, "outputTokens": { "kind": "fixed", "value": 3 } },
              "phases": [ { "kind": "constant-concurrency", "concurrency": 2, "duration": "10s" } ],
              "maxRequests": 40,
              "thresholds": [ {{thresholds}} ],
            }
          ]
        }
        """;

    [Theory]
    [InlineData("""{ "metric": "errorRate", "max": 0 }, { "metric": "requests.ok", "min": 40 }""", 0)]
    [InlineData("""{ "metric": "ttft.p50", "max": 0.001 }""", 1)]
    [InlineData("""{ "metric": "requests.sent", "min": 41 }""", 1)]
    [InlineData("""{ "metric": "e2e.p99", "max": 60000, "adapter": "not-in-the-mix" }""", 1)]
    public async Task Run_ExitCodeFollowsThresholds(string thresholds, int expected)
    {
        await using var target = await LiveTarget.StartAsync(new MockServerOptions { TtftMs = 1 }, allowReal: false);
        using var dir = new TempDirectory();
        var file = dir.File("scenario.json");
        await File.WriteAllTextAsync(file, ScenarioJson(thresholds));

        var code = await CommandLine.RunAsync(["run", file, "--target", target.BaseUrl, "--out", dir.File("out"), "--quiet"], CancellationToken.None);

        Assert.Equal(expected, code);
        var report = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(dir.File("out"), "report.json")))!;
        Assert.Equal(expected, (int)report["exitCode"]!);
        Assert.Equal(40, (long)report["scenarios"]![0]!["stats"]!["sent"]!);
    }

    [Fact]
    public async Task Run_BadScenarioOrRemoteTarget_ExitsTwoWithoutSending()
    {
        using var dir = new TempDirectory();
        var typo = dir.File("typo.json");
        await File.WriteAllTextAsync(typo, ScenarioJson("").Replace("\"maxRequests\"", "\"maxRequest\"", StringComparison.Ordinal));
        Assert.Equal(ExitCodes.Usage, await CommandLine.RunAsync(["run", typo, "--quiet"], CancellationToken.None));

        var remote = dir.File("remote.json");
        await File.WriteAllTextAsync(remote, ScenarioJson("""{ "metric": "errorRate", "max": 0 }"""));
        // 192.0.2.1 is TEST-NET-1: never reachable, and never loopback, so the guard refuses before any request.
        Assert.Equal(ExitCodes.Usage, await CommandLine.RunAsync(["run", remote, "--target", "http://192.0.2.1:8080", "--quiet", "--out", dir.File("r")], CancellationToken.None));
        Assert.False(File.Exists(Path.Combine(dir.File("r"), "requests.jsonl")));

        Assert.Equal(ExitCodes.Usage, await CommandLine.RunAsync(["run", remote, "--no-such-option"], CancellationToken.None));
        Assert.Equal(ExitCodes.Usage, await CommandLine.RunAsync(["frobnicate"], CancellationToken.None));
    }
}
