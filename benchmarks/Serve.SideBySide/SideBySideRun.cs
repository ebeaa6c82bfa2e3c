using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Serve.LoadTest.Reports;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Simulations;

namespace Serve.SideBySide;

/// <summary>Starts the servers, runs every load against each in turn with serve-load's runner, and builds the table.</summary>
internal static class SideBySideRun
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<string> RunAsync(BenchOptions options, ModelSet models)
    {
        var loads = options.LoadSpecs();
        var results = new Dictionary<(string Server, string Load), List<ScenarioReport>>();
        var notes = new List<string>();
        string? agreement = null, reserves = null;
        var logs = options.OutputDirectory ?? Path.Combine(Path.GetTempPath(), "serve-side-by-side");
        // Both servers run at once and take the loads in turn (base on each, then one adapter on each, ...), so a
        // slow drift in what else the machine does falls on both sides of every ratio alike. An idle server waits
        // without spinning.
        var processes = new List<(string Server, ServerProcess Process)>();
        try
        {
            foreach (var server in options.Servers)
            {
                var port = ServerProcess.FreePort();
                var clock = Stopwatch.StartNew();
                try
                {
                    var process = server == "serve"
                        ? await StartServeAsync(options, models, port, Path.Combine(logs, "serve.log"))
                        : await StartLlamaServerAsync(options, models, port, Path.Combine(logs, "llama-server.log"));
                    processes.Add((server, process));
                    Console.WriteLine(string.Create(Inv, $"{server} ready on {process.BaseUrl} in {clock.Elapsed.TotalSeconds:F1} s"));
                }
                catch (BenchFailedException e)
                {
                    Console.WriteLine($"{server}: {e.Message}");
                    notes.Add($"{server} did not start: {e.Message.Split('\n')[0]}");
                }
            }
            // Whether the two compute the same answers, before the loads (see Agreement).
            if (processes.Count == 2)
            {
                try
                {
                    agreement = await Agreement.CheckAsync(models, processes.First(p => p.Server == "serve").Process.BaseUrl,
                        processes.First(p => p.Server == "llama-server").Process.BaseUrl, options.LoadTime);
                    Console.WriteLine(agreement);
                }
                catch (Exception e) when (e is BenchFailedException or HttpRequestException or TaskCanceledException)
                {
                    notes.Add($"the answers could not be compared: {e.Message.Split('\n')[0]}");
                }
            }
            var reservesBefore = processes.ToDictionary(p => p.Server, p => CountReserves(p.Process.LogPath));
            var exited = new HashSet<string>();
            for (var round = 0; round < options.Rounds; round++)
            {
                if (options.Rounds > 1) Console.WriteLine($"round {round + 1} of {options.Rounds}");
                foreach (var load in loads)
                {
                    foreach (var (server, process) in processes)
                    {
                        if (exited.Contains(server)) continue;
                        if (process.HasExited)
                        {
                            notes.Add($"{server} exited before '{load.Name}' (round {round + 1}); the end of its log:\n{process.Tail(10)}");
                            exited.Add(server);
                            continue;
                        }
                        // Warm-up, before the first round: one wave of the load, finished before the measured run
                        // starts. (serve-load's own warm-up ends by time and leaves its requests running into the
                        // measured phase, so the first measured wave queued behind it, and a server's first-request
                        // costs fell inside the window.)
                        if (round == 0)
                            await LoadRunner.RunAsync(BuildRun(options, models, load, server, process.BaseUrl, warmUp: true), new RunOptions());
                        var spec = BuildRun(options, models, load, server, process.BaseUrl, round: round);
                        var run = await LoadRunner.RunAsync(spec, new RunOptions
                        {
                            OutputDirectory = options.Reports
                                ? Path.Combine(options.OutputDirectory!, $"{server}-{Slug(load.Name)}" + (options.Rounds > 1 ? $"-round{round + 1}" : ""))
                                : null,
                        });
                        var report = run.Report.Scenarios[0];
                        if (!results.TryGetValue((server, load.Name), out var rounds)) results[(server, load.Name)] = rounds = [];
                        rounds.Add(report);
                        var s = report.Stats;
                        Console.WriteLine(string.Create(Inv,
                            $"  {server,-12} {load.Name,-12} {s.OutputTokensPerSecond,8:F1} tok/s  ok {s.Ok}/{s.Sent}  TTFT p50 {s.Ttft.P50:F0} ms  ITL p50 {s.Itl.P50:F1} ms  ({report.MeasuredSeconds:F1} s)"));
                        if (s.Failed > 0)
                            notes.Add($"{server} / {load.Name}" + (options.Rounds > 1 ? $" / round {round + 1}" : "") +
                                $": {s.Failed} of {s.Sent} requests failed ({string.Join(", ", s.ErrorsByKind.Select(k => $"{k.Key} x{k.Value}"))})");
                    }
                }
            }
            reserves = ReservesLine(processes.Select(p => (p.Server, reservesBefore[p.Server], CountReserves(p.Process.LogPath))));
            Console.WriteLine(reserves);
        }
        finally
        {
            foreach (var (_, process) in processes) await process.DisposeAsync();
        }
        return Table(options, models, loads, results, notes, agreement, reserves);
    }

    private static async Task<ServerProcess> StartServeAsync(BenchOptions options, ModelSet models, int port, string log)
    {
        var dir = options.Serve ?? Path.Combine(RepoRoot(), "src", "Serve.Server", "bin", "Release", "net10.0");
        var exe = Path.Combine(dir, "Serve.Server");
        var dll = Path.Combine(dir, "Serve.Server.dll");
        if (!File.Exists(exe) && !File.Exists(dll))
            throw new BenchUsageException($"no Serve.Server in {dir} (build it: dotnet build src/Serve.Server -c Release, or name one with --serve)");
        var adapterDir = models.Adapters.Count > 0
            ? models.AdapterDirectory
            : Directory.CreateTempSubdirectory("serve-side-by-side-noadapters-").FullName;
        var maxStreams = Math.Max(options.Streams, 1);
        var env = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["Logging__LogLevel__Default"] = "Warning",
            // llama.cpp's load report and its graph reserves (counted below the table)
            ["Logging__LogLevel__llama.cpp"] = "Information",
            ["Serve__Engine__Model"] = models.ModelPath,
            ["Serve__Engine__Adapters"] = adapterDir,
            ["Serve__Engine__MaxSequences"] = maxStreams.ToString(Inv),
            ["Serve__Engine__ContextPerSequence"] = options.ContextPerSequence.ToString(Inv),
            ["Serve__Engine__MaxLoadedAdapters"] = Math.Max(1, models.Adapters.Count).ToString(Inv),
            // One benchmark client is every client: let it use every sequence and queue place.
            ["Serve__Engine__ClientRunningShare"] = "1",
            ["Serve__Engine__ClientQueueShare"] = "1",
            ["Serve__Engine__GpuLayers"] = options.GpuLayers.ToString(Inv),
            // Greedy requests repeat; llama-server has no response cache, so Serve answers every one too.
            ["Serve__Cache__Enabled"] = "false",
        };
        if (options.Threads > 0) env["Serve__Engine__Threads"] = options.Threads.ToString(Inv);
        foreach (var (name, value) in options.ServeSettings) env["Serve__Engine__" + name] = value;
        if (options.ServeLibraryDirectory is { } lib) env["SERVE_LLAMA_LIB_DIR"] = Path.GetFullPath(lib);
        var (file, args) = File.Exists(exe) ? (exe, Array.Empty<string>()) : ("dotnet", new[] { dll });
        return await ServerProcess.StartAsync("serve", file, args, env, port, log, options.StartTimeout);
    }

    private static async Task<ServerProcess> StartLlamaServerAsync(BenchOptions options, ModelSet models, int port, string log)
    {
        var binary = options.LlamaServer ?? BuildLlamaServer();
        if (!File.Exists(binary)) throw new BenchUsageException($"llama-server not found at {binary}");
        var binDir = Path.GetDirectoryName(Path.GetFullPath(binary))!;
        var args = new List<string>
        {
            "-m", models.ModelPath, "--host", "127.0.0.1", "--port", port.ToString(Inv),
            "-np", options.Streams.ToString(Inv), "-c", (options.Streams * options.ContextPerSequence).ToString(Inv),
            "-ngl", options.GpuLayers.ToString(Inv),
        };
        if (options.Threads > 0) args.AddRange(["-t", options.Threads.ToString(Inv)]);
        if (models.Adapters.Count > 0)
        {
            // one comma-separated --lora: this llama-server warns that a repeated argument is deprecated
            if (models.Adapters.Select(a => a.Path).FirstOrDefault(path => path.Contains(',')) is { } bad)
                throw new BenchUsageException($"llama-server takes its adapters as one comma-separated list; this path has a comma: {bad}");
            args.AddRange(["--lora", string.Join(',', models.Adapters.Select(a => a.Path)), "--lora-init-without-apply"]);
        }
        var env = new Dictionary<string, string>
        {
            ["LD_LIBRARY_PATH"] = string.Join(':', binDir, Path.GetFullPath(Path.Combine(binDir, "..", "lib")),
                Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? ""),
        };
        return await ServerProcess.StartAsync("llama-server", binary, args, env, port, log, options.StartTimeout);
    }

    /// <summary>native/build-llama.sh --server: the same source and patches as Serve's own build (cached after the first).</summary>
    private static string BuildLlamaServer()
    {
        var script = Path.Combine(RepoRoot(), "native", "build-llama.sh");
        Console.WriteLine("llama-server: native/build-llama.sh --server (cached after the first build; the first takes many minutes)");
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add("--server");
        using var p = Process.Start(info) ?? throw new BenchFailedException("could not run native/build-llama.sh");
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new BenchFailedException($"native/build-llama.sh --server failed (exit {p.ExitCode})");
        var lib = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last().Trim();
        return Path.Combine(lib, "..", "bin", "llama-server");
    }

    private static string RepoRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "native", "build-llama.sh"))) return dir.FullName;
            }
        }
        throw new BenchUsageException("not inside the Serve repository: name the servers with --llama-server and --serve");
    }

    /// <summary>One load as a serve-load run: a closed loop of the load's streams until its requests are done.</summary>
    internal static RunSpec BuildRun(BenchOptions options, ModelSet models, LoadSpec load, string server, string baseUrl, bool warmUp = false, int round = 0)
    {
        var names = load.AdapterCount == 0 ? ["base"] : models.Adapters.Take(load.AdapterCount).Select(a => a.Name).ToList();
        var extra = new JsonObject { ["ignore_eos"] = true };
        Dictionary<string, JsonObject>? perAdapter = null;
        if (server == "llama-server" && models.Adapters.Count > 0)
            perAdapter = names.ToDictionary(n => n, n => LlamaServerLora(models, models.Adapters.ToList().FindIndex(a => a.Name == n))!);
        var requests = warmUp ? load.Streams : load.Requests;
        return new RunSpec
        {
            Name = $"{server} {load.Name}" + (warmUp ? " warm-up" : round > 0 ? $" round {round + 1}" : ""),
            Target = new TargetSpec { BaseUrl = baseUrl, RequestTimeout = options.LoadTime + TimeSpan.FromSeconds(30) },
            MaxDuration = options.LoadTime,
            Scenarios =
            [
                new ScenarioSpec
                {
                    Name = Slug(load.Name),
                    MaxRequests = requests,
                    Workload = new WorkloadSpec
                    {
                        Endpoint = options.Endpoint == "chat" ? EndpointKind.Chat : EndpointKind.Completions,
                        Adapters = new AdapterMixSpec { Mix = AdapterMixKind.Uniform, Names = names },
                        PromptTokens = LengthDistribution.Fixed(options.PromptWords),
                        OutputTokens = LengthDistribution.Fixed(options.Tokens),
                        StreamFraction = 1,
                        Temperature = 0,
                        ExtraBody = extra,
                        AdapterBodies = perAdapter,
                        // Its own prompts per load (the same for both servers): with one seed for every load, a later
                        // load resent an earlier load's prompts and llama-server answered them from its slots' KV.
                        // Each round has its own too, for the same reason (and Serve's prefix cache).
                        Seed = LoadSeed(load.Name + (warmUp ? " warm-up" : round > 0 ? $" round {round + 1}" : "")),
                    },
                    Phases = [new PhaseSpec { Kind = PhaseKind.ConstantConcurrency, Concurrency = load.Streams, Duration = options.LoadTime, MaxRequests = requests }],
                },
            ],
        };
    }

    /// <summary>
    /// llama-server applies every --lora adapter to a request without a `lora` list, so one is always sent: scale 1 for
    /// adapter own (by --lora order) and 0 for the rest; own -1 is the base model. Null when there are no adapters.
    /// </summary>
    internal static JsonObject? LlamaServerLora(ModelSet models, int own) => models.Adapters.Count == 0 ? null : new()
    {
        ["lora"] = new JsonArray([.. models.Adapters.Select((_, i) => (JsonNode)new JsonObject { ["id"] = i, ["scale"] = i == own ? 1.0 : 0.0 })]),
    };

    internal static int LoadSeed(string loadName)
    {
        var seed = 7;
        foreach (var c in loadName) seed = unchecked(seed * 31 + c);
        return seed & int.MaxValue;
    }

    private static string Slug(string name) => name.Replace(' ', '-');

    private static string Table(BenchOptions options, ModelSet models, IReadOnlyList<LoadSpec> loads,
        Dictionary<(string, string), List<ScenarioReport>> results, List<string> notes, string? agreement, string? reserves = null)
    {
        var rounds = options.Rounds;
        // With several rounds: each server's median throughput per load, the ratio of those medians, and TTFT/ITL
        // from the round whose throughput was that median (the lower middle one for an even count).
        StatsReport? Median(string server, string load) => results.GetValueOrDefault((server, load)) is { Count: > 0 } list
            ? list.OrderBy(r => r.Stats.OutputTokensPerSecond).ElementAt((list.Count - 1) / 2).Stats
            : null;
        double? MedianTps(string server, string load) => results.GetValueOrDefault((server, load)) is { Count: > 0 } list
            ? MedianOf(list.Select(r => r.Stats.OutputTokensPerSecond))
            : null;
        var sb = new StringBuilder();
        sb.AppendLine(string.Create(Inv, $"Side by side: {models.Description}"));
        sb.AppendLine(string.Create(Inv,
            $"{Environment.ProcessorCount} cores; {options.Tokens} tokens per response (ignore_eos, greedy), prompts of {options.PromptWords} words, {options.Endpoint} endpoint, streamed; gpu layers {options.GpuLayers}; threads {(options.Threads > 0 ? options.Threads.ToString(Inv) : "default")}"));
        if (options.ServeSettings.Count > 0)
            sb.AppendLine("Serve's engine settings: " + string.Join(", ", options.ServeSettings.Select(s => $"{s.Name}={s.Value}")));
        if (rounds > 1)
            sb.AppendLine(string.Create(Inv,
                $"{rounds} rounds, servers taking each load in turn; tok/s is each server's median over the rounds, the ratio is of those medians, TTFT/ITL are from each server's median round"));
        sb.AppendLine();
        sb.Append("| load | streams | requests | llama-server tok/s | Serve tok/s | Serve ÷ llama-server |");
        if (rounds > 1) sb.Append(" per round |");
        sb.AppendLine(" TTFT p50 ms (llama / Serve) | TTFT p90 ms | ITL p50 ms | ITL p99 ms |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|" + (rounds > 1 ? "---:|" : "") + "---:|---:|---:|---:|");
        foreach (var load in loads)
        {
            var l = Median("llama-server", load.Name);
            var s = Median("serve", load.Name);
            var lt = MedianTps("llama-server", load.Name);
            var st = MedianTps("serve", load.Name);
            string Tps(string server, double? tps)
            {
                if (tps is null) return "-";
                var failed = results[(server, load.Name)].Sum(r => r.Stats.Failed);
                return tps.Value.ToString("F1", Inv) + (failed > 0 ? $" ({failed} failed)" : "");
            }
            string Pair(Func<StatsReport, double> f, string format) =>
                $"{(l is null ? "-" : f(l).ToString(format, Inv))} / {(s is null ? "-" : f(s).ToString(format, Inv))}";
            var ratio = lt is > 0 && st is not null ? (st.Value / lt.Value).ToString("F2", Inv) + "x" : "-";
            sb.Append(string.Create(Inv, $"| {load.Name} | {load.Streams} | {load.Requests} | {Tps("llama-server", lt)} | {Tps("serve", st)} | **{ratio}** |"));
            if (rounds > 1)
            {
                var ls = results.GetValueOrDefault(("llama-server", load.Name)) ?? [];
                var ss = results.GetValueOrDefault(("serve", load.Name)) ?? [];
                var per = ls.Zip(ss, (a, b) => a.Stats.OutputTokensPerSecond > 0 ? (b.Stats.OutputTokensPerSecond / a.Stats.OutputTokensPerSecond).ToString("F2", Inv) : "-");
                sb.Append(' ').Append(string.Join(" ", per)).Append(" |");
            }
            sb.AppendLine(string.Create(Inv,
                $" {Pair(r => r.Ttft.P50, "F0")} | {Pair(r => r.Ttft.P90, "F0")} | {Pair(r => r.Itl.P50, "F1")} | {Pair(r => r.Itl.P99, "F1")} |"));
        }
        // Within each server: what adapters cost it (issue 13's targets read these).
        foreach (var server in options.Servers)
        {
            double? Tps(string load) => MedianTps(server, load);
            var parts = new List<string>();
            if (Tps("base") is { } b and > 0 && Tps("one adapter") is { } one) parts.Add(string.Create(Inv, $"one adapter ÷ base {one / b:F2}x"));
            foreach (var mixed in loads.Where(x => x.AdapterCount > 1))
            {
                if (Tps("one adapter") is { } o and > 0 && Tps(mixed.Name) is { } m) parts.Add(string.Create(Inv, $"{mixed.Name} ÷ one adapter {m / o:F2}x"));
            }
            if (parts.Count > 0) sb.AppendLine().Append(server == "serve" ? "Serve" : server).Append(": ").Append(string.Join("; ", parts)).AppendLine();
        }
        if (agreement is not null) sb.AppendLine().AppendLine(agreement);
        if (reserves is not null) sb.AppendLine().AppendLine(reserves);
        if (notes.Count > 0)
        {
            sb.AppendLine();
            foreach (var n in notes) sb.AppendLine("- " + n);
        }
        return sb.ToString();
    }

    // llama.cpp logs "sched_reserve: reserving ..." each time it reserves its graph again: before the adapter pool,
    // on every change of the adapters set on a context, 36 ms each on the H200 (issue 13). Each server's log is
    // read before the loads and after them.
    internal const string ReserveLine = "sched_reserve: reserving";

    internal static int CountReserves(string logPath)
    {
        using var stream = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var n = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Contains(ReserveLine, StringComparison.Ordinal)) n++;
        }
        return n;
    }

    /// <summary>The graph reserves each server made during the loads (warm-ups included). A log without a single
    /// reserve line, not even the start-up one, does not show llama.cpp's info lines: "not logged", not 0.</summary>
    internal static string? ReservesLine(IEnumerable<(string Server, int Before, int After)> counts)
    {
        var parts = counts.Select(c => c.Before == 0 && c.After == 0
            ? $"{c.Server} not logged"
            : string.Create(Inv, $"{c.Server} {c.After - c.Before}")).ToList();
        return parts.Count == 0 ? null : "Graph reserves during the loads (llama.cpp's sched_reserve, warm-ups included): " + string.Join(", ", parts) + ".";
    }

    internal static double MedianOf(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) throw new ArgumentException("no values", nameof(values));
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
