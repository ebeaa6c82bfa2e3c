using System.Globalization;
using Serve.LoadTest.Mock;

namespace Serve.LoadTest.Cli;

/// <summary>serve-load mock-server: the built-in OpenAI-shaped endpoint as a process (a stand-in replica for
/// demos and the failover test). Prints its URL, writes its pid file, runs until killed or Ctrl+C.</summary>
public static class MockServerCommand
{
    public static async Task<int> RunAsync(ArgReader args, CancellationToken cancel)
    {
        var pidFile = args.Option("--pid-file");
        var models = args.Option("--models");
        var options = new MockServerOptions
        {
            Port = args.Integer("--port") ?? 8080,
            ApiKey = args.Option("--api-key"),
            Models = models?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            TtftMs = args.Number("--ttft-ms") ?? 50,
            ItlMs = args.Number("--itl-ms") ?? 10,
            PrefillMsPerKiloChar = args.Number("--prefill-ms-per-kchar") ?? 0,
            FailureRate = args.Number("--failure-rate") ?? 0,
            Slots = args.Integer("--slots") ?? 0,
            CacheHeader = args.Option("--cache-header") ?? "X-Serve-Cache",
        };
        args.Rest();
        await using var server = await MockOpenAiServer.StartAsync(options, cancel).ConfigureAwait(false);
        if (pidFile is not null) await File.WriteAllTextAsync(pidFile, Environment.ProcessId.ToString(CultureInfo.InvariantCulture), cancel).ConfigureAwait(false);
        Console.WriteLine($"mock OpenAI endpoint on {server.BaseUrl} (ttft {options.TtftMs} ms, itl {options.ItlMs} ms, slots {(options.Slots > 0 ? options.Slots : "unlimited")})");
        try
        {
            await Task.Delay(Timeout.Infinite, cancel).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C or SIGTERM.
        }
        return ExitCodes.Passed;
    }
}
