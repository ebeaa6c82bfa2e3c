using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Simulations;

namespace Serve.LoadTest.Cli;

/// <summary>serve-load run FILE: runs a scenario file and exits 1 when a threshold is missed.</summary>
public static class RunCommand
{
    public static async Task<int> RunAsync(ArgReader args, CancellationToken cancel)
    {
        var target = args.Option("--target");
        var apiKey = args.Option("--api-key");
        var output = args.Option("--out");
        var maxRequests = args.Integer("--max-requests");
        var allowRemote = args.Flag("--allow-remote");
        var quiet = args.Flag("--quiet");
        var files = args.Rest();
        if (files.Count != 1) throw new UsageException("run needs one scenario file");
        var spec = ScenarioFile.Load(files[0]);
        if (maxRequests is { } max)
            spec = spec with { Scenarios = spec.Scenarios.Select(s => s with { MaxRequests = max }).ToList() };
        output ??= Path.Combine(DefaultResultsRoot, $"{ReportsName(spec.Name)}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        var result = await LoadRunner.RunAsync(spec, new RunOptions
        {
            BaseUrl = target,
            ApiKey = apiKey,
            OutputDirectory = output,
            AllowRemote = allowRemote,
            Console = quiet ? null : Console.Out,
        }, cancel).ConfigureAwait(false);
        if (quiet) Console.WriteLine($"{(result.ExitCode == 0 ? "passed" : "thresholds failed")}: reports in {output}");
        return result.ExitCode;
    }

    /// <summary>load-tests/results/ (git-ignored) when run from the repository root, else ./load-results/.</summary>
    public static string DefaultResultsRoot =>
        Directory.Exists("load-tests") ? Path.Combine("load-tests", "results") : "load-results";

    private static string ReportsName(string name) => Reports.ReportCharts.FileSafe(name);
}
