using System.Text.Json;
using Serve.LoadTest.Reports;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Simulations;

namespace Serve.LoadTest.Tests;

/// <summary>Runs a scenario against a base URL with every report written, and reads the per-request log back.</summary>
internal static class ScenarioHarness
{
    public static async Task<(RunResult Result, IReadOnlyList<JsonElement> Requests)> RunAsync(RunSpec spec, string baseUrl, string outputDirectory)
    {
        var result = await LoadRunner.RunAsync(spec, new RunOptions { BaseUrl = baseUrl, OutputDirectory = outputDirectory });
        var lines = await File.ReadAllLinesAsync(Path.Combine(outputDirectory, ReportWriter.JsonlFile));
        var records = lines.Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        return (result, records);
    }

    public static RunSpec Tiny(string name, WorkloadSpec workload, PhaseSpec phase, long? maxRequests = null,
        IReadOnlyList<ThresholdSpec>? thresholds = null, SloSpec? slo = null, TimeSpan? warmUp = null) => new()
    {
        Name = name,
        MaxDuration = TimeSpan.FromSeconds(60),
        ReportInterval = TimeSpan.FromMilliseconds(500),
        Scenarios =
        [
            new ScenarioSpec
            {
                Name = name,
                Workload = workload,
                Phases = [phase],
                MaxRequests = maxRequests,
                Thresholds = thresholds ?? [],
                Slo = slo ?? new SloSpec(),
                WarmUp = warmUp ?? TimeSpan.Zero,
            },
        ],
    };
}
