using System.Text.Json;
using System.Text.Json.Serialization;
using Serve.LoadTest.Client;
using Serve.LoadTest.Reports;
using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Simulations;

/// <summary>Runs a scenario file: its scenarios together, hooks at their times, live progress, then reports and
/// thresholds.</summary>
public static class LoadRunner
{
    public static readonly JsonSerializerOptions ReportJson = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new DurationJsonConverter() },
    };

    private static readonly JsonSerializerOptions LineJson = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static async Task<RunResult> RunAsync(RunSpec spec, RunOptions options, CancellationToken cancel = default)
    {
        if (options.BaseUrl is not null) spec = spec with { Target = spec.Target with { BaseUrl = options.BaseUrl } };
        ScenarioFile.Validate(spec);
        await TargetGuard.EnsureAllowedAsync(spec.Target.BaseUrl, options.AllowRemote, cancel).ConfigureAwait(false);
        var apiKey = ResolveKey(options.ApiKey ?? spec.Target.ApiKey);
        if (options.OutputDirectory is not null) Directory.CreateDirectory(options.OutputDirectory);

        using var client = new OpenAiLoadClient(spec.Target, apiKey);
        var jsonlPath = options.OutputDirectory is null ? null : Path.Combine(options.OutputDirectory, ReportWriter.JsonlFile);
        var log = new RequestLogWriter(jsonlPath, LineJson);
        var clock = new RunClock();
        // A scenario with its own key is its own client (noisy-neighbour runs: the server tells clients apart by key).
        var ownClients = spec.Scenarios.Select(s => s.ApiKey is null ? null : new OpenAiLoadClient(spec.Target, ResolveKey(s.ApiKey))).ToList();
        var drivers = spec.Scenarios.Select((s, i) => new ScenarioDriver(s, ownClients[i] ?? client, log, clock, spec.ReportInterval)).ToList();
        try
        {
            return await RunDriversAsync(spec, options, drivers, log, clock, jsonlPath, cancel).ConfigureAwait(false);
        }
        finally
        {
            foreach (var d in drivers) d.Dispose();
            foreach (var c in ownClients) c?.Dispose();
        }
    }

    private static async Task<RunResult> RunDriversAsync(RunSpec spec, RunOptions options, List<ScenarioDriver> drivers,
        RequestLogWriter log, RunClock clock, string? jsonlPath, CancellationToken cancel)
    {

        using var hardStop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        hardStop.CancelAfter(spec.MaxDuration);
        using var hooksDone = CancellationTokenSource.CreateLinkedTokenSource(hardStop.Token);
        using var progressDone = new CancellationTokenSource();

        options.Console?.WriteLine($"run '{spec.Name}': {drivers.Count} scenario(s) against {spec.Target.BaseUrl}");
        var progress = options.Console is null
            ? Task.CompletedTask
            : new ProgressPrinter(drivers, clock, options.Console).RunAsync(options.ProgressInterval, progressDone.Token);
        var hooks = spec.Hooks.Select(h => HookRunner.RunAsync(h, clock, hooksDone.Token)).ToList();
        try
        {
            await Task.WhenAll(drivers.Select(d => d.RunAsync(hardStop.Token))).ConfigureAwait(false);
        }
        finally
        {
            // Hooks not yet due when the load ends are reported as not fired.
            await hooksDone.CancelAsync().ConfigureAwait(false);
            await progressDone.CancelAsync().ConfigureAwait(false);
            await progress.ConfigureAwait(false);
            await log.DisposeAsync().ConfigureAwait(false);
        }
        var hookEvents = await Task.WhenAll(hooks).ConfigureAwait(false);

        var scenarios = spec.Scenarios.Select((s, i) => ReportBuilder.Scenario(s, drivers[i].Metrics, drivers[i].Adapters)).ToList();
        var passed = scenarios.All(s => s.Thresholds.All(t => t.Passed));
        var report = new RunReport
        {
            Name = spec.Name,
            Description = spec.Description,
            Target = spec.Target.BaseUrl,
            StartedAt = clock.StartedAt,
            DurationSeconds = Math.Round(clock.Now, 3),
            ReportIntervalSeconds = spec.ReportInterval.TotalSeconds,
            ThresholdsPassed = passed,
            ExitCode = passed ? 0 : 1,
            Scenarios = scenarios,
            Hooks = hookEvents,
            ErrorWindows = ReportBuilder.HookWindows(hookEvents, drivers.Select(d => d.Metrics)),
        };
        var files = new List<string>();
        if (jsonlPath is not null) files.Add(jsonlPath);
        if (options.OutputDirectory is not null) files.AddRange(ReportWriter.Write(report, options.OutputDirectory, ReportJson));
        if (options.Console is { } console)
        {
            console.Write(ConsoleReport.Render(report));
            if (options.OutputDirectory is not null) console.WriteLine($"reports in {Path.GetFullPath(options.OutputDirectory)}");
        }
        return new RunResult(report, files);
    }

    private static string? ResolveKey(string? key)
    {
        if (key is null || !key.StartsWith("env:", StringComparison.Ordinal)) return key;
        return Environment.GetEnvironmentVariable(key[4..]);
    }
}
