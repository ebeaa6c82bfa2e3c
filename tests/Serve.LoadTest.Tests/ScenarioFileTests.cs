using System.Reflection;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Simulations;

namespace Serve.LoadTest.Tests;

public sealed class ScenarioFileTests
{
    private static string ScenarioDir => typeof(ScenarioFileTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "ScenarioDir").Value!;

    [Fact]
    public void ReadyScenarios_AllLoadAndCoverEveryRequiredShape()
    {
        var files = Directory.GetFiles(ScenarioDir, "*.json").ToDictionary(f => Path.GetFileNameWithoutExtension(f), ScenarioFile.Load);
        Assert.Superset(new HashSet<string> { "steady-single-adapter", "mixed-adapters", "cache-heavy", "burst", "gateway-failover" }, files.Keys.ToHashSet());

        Assert.Single(files["steady-single-adapter"]!.Scenarios.Single().Workload.Adapters.Names);
        Assert.Contains(files["mixed-adapters"]!.Scenarios, s => s.Workload.Adapters.Mix == AdapterMixKind.Zipf);
        Assert.True(files["cache-heavy"]!.Scenarios.Single().Workload.Repeat!.Fraction > 0.5);
        var burst = files["burst"]!.Scenarios.Single().Phases;
        Assert.True(burst.Max(p => p.Rate) >= 10 * burst.Min(p => p.Rate));
        var kill = Assert.Single(files["gateway-failover"]!.Hooks);
        Assert.Equal(HookAction.Kill, kill.Action);
    }

    [Theory]
    [InlineData("""{ "scenarios": [ { "phases": [ { "kind": "constant-rate", "rate": 1 } ], "typo": 1 } ] }""", "typo")]
    [InlineData("""{ "scenarios": [ { "phases": [] } ] }""", "no phases")]
    [InlineData("""{ "scenarios": [ { "phases": [ { "kind": "constant-rate", "rate": 0 } ] } ] }""", "rate must be > 0")]
    [InlineData("""{ "scenarios": [ { "phases": [ { "kind": "constant-rate", "duration": "soon" } ] } ] }""", "not a duration")]
    [InlineData("""{ "scenarios": [ { "phases": [ { "kind": "pause" } ], "thresholds": [ { "metric": "ttft.p42", "max": 1 } ] } ] }""", "unknown threshold metric")]
    [InlineData("""{ "scenarios": [ { "phases": [ { "kind": "pause" } ], "workload": { "adapters": { "mix": "weights", "names": ["a"] } } } ] }""", "weights")]
    [InlineData("""{ "target": { "baseUrl": "ftp://x" }, "scenarios": [ { "phases": [ { "kind": "pause" } ] } ] }""", "baseUrl")]
    [InlineData("""{ "scenarios": [ { "phases": [ { "kind": "pause" } ] } ], "hooks": [ { "action": "kill" } ] }""", "pidFile")]
    public void Parse_RefusesWhatCannotRunAsWritten(string json, string expected)
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioFile.Parse(json));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("500ms", 0.5)]
    [InlineData("30s", 30)]
    [InlineData("2m", 120)]
    [InlineData("1.5h", 5400)]
    [InlineData("12", 12)]
    public void Durations_ReadWithUnits(string text, double seconds) =>
        Assert.Equal(seconds, DurationJsonConverter.Parse(text).TotalSeconds, 9);

    [Theory]
    [InlineData("http://127.0.0.1:8080", false, true)]
    [InlineData("http://localhost:8080", false, true)]
    [InlineData("http://[::1]:8080", false, true)]
    [InlineData("http://10.1.2.3:8080", false, false)]
    [InlineData("http://192.0.2.1", false, false)]
    [InlineData("http://192.0.2.1", true, true)]
    public async Task TargetGuard_LoopbackOnlyUnlessAllowed(string url, bool allowRemote, bool allowed)
    {
        var check = TargetGuard.EnsureAllowedAsync(url, allowRemote);
        if (allowed) await check;
        else Assert.Contains("--allow-remote", (await Assert.ThrowsAsync<ScenarioException>(() => check)).Message, StringComparison.Ordinal);
    }
}
