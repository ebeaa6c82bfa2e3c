using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Cli;

/// <summary>serve-load: dispatches the command and maps failures to exit codes.</summary>
public static class CommandLine
{
    public const string Usage = """
        serve-load: load tests for OpenAI-compatible LLM servers

          serve-load run FILE [--target URL] [--api-key KEY] [--out DIR] [--max-requests N] [--allow-remote] [--quiet]
              run a scenario file; exit 0 when every threshold passed, 1 when one failed
          serve-load validate FILE...
              check scenario files without sending anything
          serve-load mock-server [--port 8080] [--ttft-ms 50] [--itl-ms 10] [--models a,b] [--api-key K]
                                 [--slots 0] [--failure-rate 0] [--prefill-ms-per-kchar 0] [--cache-header X-Serve-Cache] [--pid-file F]
              an OpenAI-shaped stand-in endpoint (streams one token per chunk)
          serve-load bench-overhead [--seconds 10] [--concurrency 64 | --rate R] [--tokens 4] [--no-stream] [--min-rps 2000] [--target URL] [--out DIR]
              the tool's own request rate against a trivial endpoint

        Exit codes: 0 passed, 1 thresholds failed, 2 bad usage or scenario file, 3 run failed.
        """;

    public static async Task<int> RunAsync(string[] argv, CancellationToken cancel)
    {
        if (argv.Length == 0 || argv[0] is "help" or "--help" or "-h")
        {
            Console.WriteLine(Usage);
            return argv.Length == 0 ? ExitCodes.Usage : ExitCodes.Passed;
        }
        var args = new ArgReader(argv.Skip(1));
        try
        {
            return argv[0] switch
            {
                "run" => await RunCommand.RunAsync(args, cancel).ConfigureAwait(false),
                "validate" => ValidateCommand.Run(args),
                "mock-server" => await MockServerCommand.RunAsync(args, cancel).ConfigureAwait(false),
                "bench-overhead" => await BenchOverheadCommand.RunAsync(args, cancel).ConfigureAwait(false),
                _ => throw new UsageException($"unknown command '{argv[0]}'"),
            };
        }
        catch (UsageException e)
        {
            await Console.Error.WriteLineAsync($"serve-load: {e.Message}\n\n{Usage}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (ScenarioException e)
        {
            await Console.Error.WriteLineAsync($"serve-load: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (Exception e) when (e is IOException or HttpRequestException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"serve-load: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
    }
}
