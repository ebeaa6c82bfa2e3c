using System.Diagnostics;
using Serve.Engine;
using Serve.Engine.Bench;
using Serve.Models;

// Engine benchmark, in one process and one run: (1) for each adapter count N (default 4, 16 and 64), max(8, N)
// concurrent greedy streams on the base model, on one adapter, and spread over N adapters (one stream each or
// more), all in the same per-token-adapter decodes; (2) one adapter's load through the HTTP server (SSE, loopback)
// vs the engine driven directly. Usage:
//   dotnet run -c Release --project benchmarks/Serve.Engine.Bench [-- --tokens N --rounds N --weights q8_0|f16
//                                                                  --threads N --adapters 4,16,64 --pool-rank N
//                                                                  --pool-type f32|f16|q8_0 --batch N]
// --threads sets llama.cpp's threads for the engine and the server alike (default: llama.cpp's own choice).
// --many N runs only issue 13's many-adapter benchmark instead (ManyAdapterBench): N adapters, 64 slots, Zipf(1.0)
// popularity, 16 streams, against the same requests on one adapter; --requests (default 320) and --tokens (default
// 64: answers of 32-64 tokens) size each run, --rounds (default 3) how many of each, interleaved; --pool-rank pads
// the pool's slots (default: the engine's MaxAdapterRank, 16), --pool-type sets its factors' type (default: the
// engine's choice, F16 where the build has the pool's F16 CPU kernel; q8_0 pads to 32 and takes mul_mat_id); --batch
// sets EngineOptions.BatchSize, the most tokens one step decodes, in either benchmark (default 512, at least the
// streams: a step may take every new prompt at once).
// --prefill-while-decoding N sets EngineOptions.PrefillTokensWhileDecoding (prompt tokens in a step that also
// decodes), in either benchmark; the engine refuses values below 1.
var tokens = ArgValue("--tokens", 64);
var threads = ArgValue("--threads", 0);
var rounds = ArgValue("--rounds", 3);
var poolRank = ArgValue("--pool-rank", 0);
int? prefillWhileDecoding = Array.IndexOf(Environment.GetCommandLineArgs(), "--prefill-while-decoding") >= 0 ? ArgValue("--prefill-while-decoding", 0) : null;
int? batch = Array.IndexOf(Environment.GetCommandLineArgs(), "--batch") >= 0 ? ArgValue("--batch", 0) : null; // given as is: the engine refuses what it cannot take
Serve.Llama.Native.GgmlType? poolType = ArgString("--pool-type", "") switch
{
    "" => null,
    "f32" => Serve.Llama.Native.GgmlType.F32,
    "f16" => Serve.Llama.Native.GgmlType.F16,
    "q8_0" => Serve.Llama.Native.GgmlType.Q8_0,
    var other => throw new ArgumentException($"--pool-type must be f32, f16 or q8_0, got {other}"),
};
var counts = ArgString("--adapters", "4,16,64").Split(',').Select(x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
var weights = ArgString("--weights", "q8_0") switch
{
    "f16" => Serve.Gguf.GgmlType.F16,
    "q8_0" => Serve.Gguf.GgmlType.Q8_0,
    var other => throw new ArgumentException($"--weights must be f16 or q8_0, got {other}"),
};
var work = Path.Combine(Path.GetTempPath(), "serve-engine-bench");
Directory.CreateDirectory(work);
var spec = new LlamaModelSpec
{
    Name = "bench", EmbeddingLength = 512, BlockCount = 8, HeadCount = 8, HeadCountKv = 4, FeedForwardLength = 1536,
    VocabSize = 2048, ContextLength = 2048, WeightType = weights, InitStd = 0.05f,
};
var clock = Stopwatch.StartNew();
var model = ModelMaker.BuildTestModel(work, spec);
if (ArgValue("--many", 0) is > 0 and var many)
{
    Console.WriteLine($"model {Path.GetFileName(model)}: {spec.ParameterCount / 1e6:F1}M parameters {weights}, {new FileInfo(model).Length / 1e6:F0} MB");
    await ManyAdapterBench.RunAsync(model, work, many, ArgValue("--requests", 320), ArgValue("--tokens", 64), ArgValue("--rounds", 3), threads > 0 ? threads : null,
        poolRank > 0 ? poolRank : null, poolType, batch ?? 512, prefillWhileDecoding);
    return;
}
var adapters = Path.Combine(work, "adapters-" + Path.GetFileNameWithoutExtension(model));
Directory.CreateDirectory(adapters);
for (var i = 0; i < counts.Max(); i++)
{
    var path = Path.Combine(adapters, $"adapter{i}.gguf");
    if (!File.Exists(path)) LoraMaker.Write(path, model, new LoraSpec { Seed = 100 + i, Rank = 16, Alpha = 16, Targets = ["attn_q", "attn_k", "attn_v", "attn_output"] });
}
Console.WriteLine($"model {Path.GetFileName(model)}: {spec.ParameterCount / 1e6:F1}M parameters {weights}, {new FileInfo(model).Length / 1e6:F0} MB, {counts.Max()} rank-16 adapters on q/k/v/o (made in {clock.Elapsed.TotalSeconds:F1} s)");
Console.WriteLine($"{Environment.ProcessorCount} cores; {tokens} tokens a stream, best of {rounds} rounds per load; pool factors {poolType?.ToString() ?? "engine default"}");
Console.WriteLine();
Console.WriteLine("| adapters | streams | base tok/s | 1 adapter tok/s | N adapters tok/s | single/base | mixed/single (best; paired median) | TTFT p50 mixed/single |");
Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
foreach (var n in counts)
{
    var streams = Math.Max(8, n);
    using var pooled = InferenceEngine.Start(new EngineOptions
    {
        ModelPath = model, AdaptersDirectory = adapters, MaxSequences = streams, ContextPerSequence = 256, PrefixCache = false,
        MaxLoadedAdapters = n, BatchSize = batch ?? Math.Max(512, streams), Threads = threads > 0 ? threads : null,
        AdapterPoolRank = poolRank > 0 ? poolRank : null, AdapterPoolType = poolType, PrefillTokensWhileDecoding = prefillWhileDecoding,
    });
    var load = new LoadRunner(new EngineTarget(pooled), tokens);
    await load.RunAsync(i => $"adapter{i % n}", streams); // warm-up: loads every adapter into its slot, first graphs
    // Rounds interleave the three loads so a noisy neighbour hits all of them alike; the best round of each counts,
    // and the paired ratio (each mixed round against the single round just before it) is printed too.
    LoadResult? single = null, mixed = null, baseOnly = null;
    var paired = new List<double>();
    for (var r = 0; r < rounds; r++)
    {
        baseOnly = LoadResult.Best(baseOnly, await load.RunAsync(_ => null, streams));
        var s1 = await load.RunAsync(_ => "adapter0", streams);
        var m1 = await load.RunAsync(i => $"adapter{i % n}", streams);
        single = LoadResult.Best(single, s1);
        mixed = LoadResult.Best(mixed, m1);
        paired.Add(m1.TokensPerSecond / s1.TokensPerSecond);
    }
    Console.WriteLine($"| {n} | {streams} | {baseOnly!.TokensPerSecond:F1} | {single!.TokensPerSecond:F1} | {mixed!.TokensPerSecond:F1} | " +
        $"{single.TokensPerSecond / baseOnly.TokensPerSecond:F3}x | {mixed.TokensPerSecond / single.TokensPerSecond:F3}x; {Median(paired):F3}x | {mixed.TtftP50 / single.TtftP50:F3}x |");
}
Console.WriteLine();
Console.WriteLine("targets (issue 13): mixed/single >= 0.95x at 4, 16 and 64 adapters; single/base >= 0.9x");

using var engine = InferenceEngine.Start(new EngineOptions
{
    ModelPath = model, AdaptersDirectory = adapters, MaxSequences = 8, ContextPerSequence = 1024, PrefixCache = false,
    Threads = threads > 0 ? threads : null,
});
var runner = new LoadRunner(new EngineTarget(engine), tokens);
await runner.RunAsync(_ => "adapter0", 1);

// (2) The server over loopback HTTP vs the engine in process, same model, same options, rounds interleaved.
var port = FreePort();
await using var server = Serve.Server.Hosting.ServeApplication.Build(
[
    "--model", model, "--adapters", adapters, "--urls", $"http://127.0.0.1:{port}",
    "--Serve:Engine:MaxSequences=8", "--Serve:Engine:ContextPerSequence=1024", "--Serve:Engine:PrefixCache=false",
    .. (threads > 0 ? new[] { $"--Serve:Engine:Threads={threads}" } : []),
    "--Logging:LogLevel:Default=Warning",
    "--Serve:Engine:ClientRunningShare=1", // one trusted client: every sequence, as the engine in process gets
    "--Serve:Cache:Enabled=false", // the repeated greedy requests must reach the engine, not the response cache
]);
await server.StartAsync();
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
// The server loads its model in the background: wait for readiness (bounded) before the warm-up.
for (var i = 0; i < 600 && !(await http.GetAsync("/healthz/ready")).IsSuccessStatusCode; i++) await Task.Delay(100);
var viaHttp = new LoadRunner(new HttpTarget(http, Path.GetFileNameWithoutExtension(model)), tokens);
await viaHttp.RunAsync(_ => "adapter0", 8); // warm-up
LoadResult? direct = null, served = null;
var pairedServer = new List<double>();
for (var r = 0; r < rounds; r++)
{
    var d1 = await runner.RunAsync(_ => "adapter0", 8);
    var h1 = await viaHttp.RunAsync(_ => "adapter0", 8);
    direct = LoadResult.Best(direct, d1);
    served = LoadResult.Best(served, h1);
    pairedServer.Add(h1.TokensPerSecond / d1.TokensPerSecond);
}
await server.StopAsync();
Console.WriteLine();
Console.WriteLine("| 1 adapter, 8 streams | output tok/s | TTFT p50 ms | TTFT p90 ms |");
Console.WriteLine("|---|---:|---:|---:|");
Console.WriteLine($"| engine in process | {direct!.TokensPerSecond:F1} | {direct.TtftP50 * 1000:F1} | {direct.TtftP90 * 1000:F1} |");
Console.WriteLine($"| server, HTTP + SSE | {served!.TokensPerSecond:F1} | {served.TtftP50 * 1000:F1} | {served.TtftP90 * 1000:F1} |");
Console.WriteLine();
Console.WriteLine($"server/engine throughput: {served.TokensPerSecond / direct.TokensPerSecond:F3}x (target >= 0.95)");
Console.WriteLine($"paired rounds, median:    {Median(pairedServer):F3}x (per round: {string.Join(" ", pairedServer.Select(x => x.ToString("F2")))})");

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

static int FreePort()
{
    var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
    listener.Start();
    var p = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    listener.Stop();
    return p;
}

static string ArgString(string name, string fallback)
{
    var args = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

static int ArgValue(string name, int fallback)
{
    var args = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
}
