using Serve.LoadTest.Mock;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Simulations;

namespace Serve.LoadTest.Cli;

/// <summary>serve-load bench-overhead: how many requests per second the tool itself can drive, with live progress,
/// per-request JSONL and every report on, against a trivial endpoint (the built-in mock with no delays, in this
/// process unless --target names one). Exits 1 below --min-rps (default 2000).</summary>
public static class BenchOverheadCommand
{
    public static async Task<int> RunAsync(ArgReader args, CancellationToken cancel)
    {
        var target = args.Option("--target");
        var seconds = args.Number("--seconds") ?? 10;
        var concurrency = args.Integer("--concurrency") ?? 64;
        var rate = args.Number("--rate");
        var tokens = args.Integer("--tokens") ?? 4;
        var minRps = args.Number("--min-rps") ?? 2000;
        var output = args.Option("--out") ?? Path.Combine(RunCommand.DefaultResultsRoot, "bench-overhead");
        var nonStreaming = args.Flag("--no-stream");
        args.Rest();

        await using var mock = target is null
            ? await MockOpenAiServer.StartAsync(new MockServerOptions { Models = ["base", "adapter-a", "adapter-b"] }, cancel).ConfigureAwait(false)
            : null;
        var spec = new RunSpec
        {
            Name = "bench-overhead",
            Description = (rate is { } r ? $"Open loop: Poisson arrivals at {r} requests/s" : $"The tool's own ceiling: {concurrency} virtual users") +
                          " against a trivial endpoint, " +
                          $"{tokens} tokens per {(nonStreaming ? "non-streaming" : "streaming")} response.",
            Target = new TargetSpec { BaseUrl = target ?? mock!.BaseUrl },
            Scenarios =
            [
                new ScenarioSpec
                {
                    Name = "bench-overhead",
                    WarmUp = TimeSpan.FromSeconds(2),
                    Workload = new WorkloadSpec
                    {
                        Adapters = new AdapterMixSpec { Mix = AdapterMixKind.Uniform, Names = ["base", "adapter-a", "adapter-b"] },
                        PromptTokens = LengthDistribution.Fixed(16),
                        OutputTokens = LengthDistribution.Fixed(tokens),
                        StreamFraction = nonStreaming ? 0 : 1,
                    },
                    Phases =
                    [
                        rate is { } arrivals
                            ? new PhaseSpec { Name = "open-loop", Kind = PhaseKind.ConstantRate, Rate = arrivals, Duration = TimeSpan.FromSeconds(seconds) }
                            : new PhaseSpec { Name = "flat-out", Kind = PhaseKind.ConstantConcurrency, Concurrency = concurrency, Duration = TimeSpan.FromSeconds(seconds) },
                    ],
                    Thresholds = [new ThresholdSpec { Metric = "rps", Min = minRps }, new ThresholdSpec { Metric = "requests.failed", Max = 0 }],
                },
            ],
        };
        var result = await LoadRunner.RunAsync(spec, new RunOptions { OutputDirectory = output, Console = Console.Out }, cancel).ConfigureAwait(false);
        var s = result.Report.Scenarios[0].Stats;
        Console.WriteLine($"bench-overhead: {s.Rps:F0} requests/s ({s.OutputTokensPerSecond:F0} tokens/s), {s.Ok} ok, {s.Failed} failed, " +
                          $"over {result.Report.Scenarios[0].MeasuredSeconds:F1} s {(rate is null ? $"with {concurrency} users" : $"at {rate} arrivals/s")}; target >= {minRps} requests/s: " +
                          (result.ExitCode == 0 ? "met" : "NOT met"));
        return result.ExitCode;
    }
}
