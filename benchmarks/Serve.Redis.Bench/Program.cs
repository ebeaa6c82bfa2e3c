using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Serve.Models;
using Serve.Server.Hosting;

// Benchmark for issue 6: response cache hit vs miss latency at the server over loopback HTTP. Two servers (replicas A
// and B, in this process, real Kestrel) share one real redis-server. Misses are fresh greedy prompts on A (the engine
// generates); memory hits repeat them on A; Redis hits send them to B, which never saw them (its first lookup goes
// to Redis). Target: hit p50 under 5 ms. Usage:
//   dotnet run -c Release --project benchmarks/Serve.Redis.Bench [-- --requests N --tokens N]
var requests = ArgValue("--requests", 40);
var tokens = ArgValue("--tokens", 32);
var work = Path.Combine(Path.GetTempPath(), "serve-redis-bench");
Directory.CreateDirectory(work);
// The engine bench's model (about 30M parameters, Q8_0): big enough that a miss costs real decode time.
var model = ModelMaker.BuildTestModel(work, new LlamaModelSpec
{
    Name = "cache-bench", EmbeddingLength = 512, BlockCount = 8, HeadCount = 8, HeadCountKv = 4, FeedForwardLength = 1536,
    VocabSize = 2048, ContextLength = 2048, WeightType = Serve.Gguf.GgmlType.Q8_0, InitStd = 0.05f,
});

var redisPort = FreePort();
var redisDir = Directory.CreateTempSubdirectory("serve-redis-bench-");
using var redis = Process.Start(new ProcessStartInfo("redis-server",
    ["--port", redisPort.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", redisDir.FullName])
{ RedirectStandardOutput = true })!;
try
{
    await WaitForPort(redisPort);
    var a = await StartReplica(model, redisPort);
    var b = await StartReplica(model, redisPort);
    using var clientA = new HttpClient { BaseAddress = new Uri(a.Urls.First()) };
    using var clientB = new HttpClient { BaseAddress = new Uri(b.Urls.First()) };

    string Body(int i, bool stream = false) =>
        $$"""{"model":"base","messages":[{"role":"user","content":"benchmark prompt {{i}}"}],"max_tokens":{{tokens}},"temperature":0,"ignore_eos":true,"stream":{{(stream ? "true" : "false")}}}""";

    // Warm-up: JIT, connections, the first graphs (not measured; prompts outside the measured range).
    for (var i = 0; i < 5; i++)
    {
        await Time(clientA, Body(-1 - i), "miss");
        await Time(clientA, Body(-1 - i), "hit");
        await Time(clientB, Body(-1 - i), "hit");
    }

    var miss = new List<double>();
    var memoryHit = new List<double>();
    var redisHit = new List<double>();
    var sseMiss = new List<double>();
    var sseHit = new List<double>();
    for (var i = 0; i < requests; i++) miss.Add(await Time(clientA, Body(i), "miss"));
    for (var round = 0; round < 3; round++)
        for (var i = 0; i < requests; i++) memoryHit.Add(await Time(clientA, Body(i), "hit"));
    for (var i = 0; i < requests; i++) redisHit.Add(await Time(clientB, Body(i), "hit"));
    for (var i = 0; i < requests; i++) sseMiss.Add(await Time(clientA, Body(1000 + i, stream: true), "miss"));
    for (var i = 0; i < requests; i++) sseHit.Add(await Time(clientB, Body(1000 + i, stream: true), "hit"));

    Console.WriteLine($"{Environment.ProcessorCount} cores; {Path.GetFileName(model)} ({new FileInfo(model).Length / 1e6:F0} MB); greedy chat, {tokens} tokens; {requests} prompts; latency = request sent to last byte read, loopback HTTP");
    Console.WriteLine();
    Console.WriteLine("| case | n | p50 ms | p90 ms |");
    Console.WriteLine("|---|---:|---:|---:|");
    foreach (var (name, samples) in new[] { ("miss (engine), JSON", miss), ("hit, memory level (A), JSON", memoryHit), ("hit, Redis level (B), JSON", redisHit), ("miss (engine), SSE", sseMiss), ("hit, Redis level (B), SSE", sseHit) })
        Console.WriteLine($"| {name} | {samples.Count} | {Percentile(samples, 0.5):F2} | {Percentile(samples, 0.9):F2} |");
    Console.WriteLine();
    Console.WriteLine($"miss/hit p50: memory {Percentile(miss, 0.5) / Percentile(memoryHit, 0.5):F0}x, Redis {Percentile(miss, 0.5) / Percentile(redisHit, 0.5):F0}x");
    var worst = Math.Max(Percentile(memoryHit, 0.5), Percentile(redisHit, 0.5));
    Console.WriteLine($"hit p50 {worst:F2} ms (target < 5 ms): {(worst < 5 ? "met" : "NOT met")}");
    await a.StopAsync();
    await b.StopAsync();
}
finally
{
    redis.Kill();
    redisDir.Delete(recursive: true);
}

static async Task<double> Time(HttpClient client, string body, string expected)
{
    var clock = Stopwatch.StartNew();
    using var response = await client.PostAsync("v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
    await response.Content.ReadAsByteArrayAsync();
    var elapsed = clock.Elapsed.TotalMilliseconds;
    response.EnsureSuccessStatusCode();
    var cache = response.Headers.TryGetValues("X-Serve-Cache", out var v) ? v.Single() : "(none)";
    if (cache != expected) throw new InvalidOperationException($"expected a cache {expected}, got {cache}");
    return elapsed;
}

static async Task<WebApplication> StartReplica(string model, int redisPort)
{
    var app = ServeApplication.Build(
    [
        "--model", model, "--urls", $"http://127.0.0.1:{FreePort()}", "--redis", $"127.0.0.1:{redisPort}",
        "--Serve:Engine:MaxSequences=2", "--Serve:Engine:ContextPerSequence=1024", "--Serve:Engine:Threads=1",
        "--Logging:LogLevel:Default=Warning",
    ]);
    await app.StartAsync();
    var host = (EngineHost)app.Services.GetService(typeof(EngineHost))!;
    await host.Ready.WaitAsync(TimeSpan.FromSeconds(120));
    return app;
}

static double Percentile(List<double> samples, double p)
{
    var sorted = samples.Order().ToArray();
    return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

static async Task WaitForPort(int port)
{
    for (var i = 0; i < 200; i++)
    {
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            return;
        }
        catch (SocketException)
        {
            await Task.Delay(50);
        }
    }
    throw new TimeoutException("redis-server did not start");
}

static int FreePort()
{
    var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    var p = ((IPEndPoint)listener.LocalEndpoint).Port;
    listener.Stop();
    return p;
}

int ArgValue(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
}
