using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Serve.Gateway.Bench;
using Serve.Gateway.Hosting;
using Serve.Models;
using Serve.Server.Hosting;

// Benchmark for issue 7, one process, one run: the same streaming load sent straight to a replica and through the
// gateway in front of it, interleaved so a noisy neighbour hits both alike.
//   (1) TTFT: one stream at a time, alternating direct / gateway; p50 and p90 of each (target: gateway within 5 ms).
//   (2) Throughput: N concurrent streams; best round of each (target: gateway >= 0.95x direct).
// The gateway has two destinations that are the same replica, so the AdapterAffinity policy runs on every request
// (YARP skips the policy for a lone destination). Usage:
//   dotnet run -c Release --project benchmarks/Serve.Gateway.Bench [-- --streams N --tokens N --rounds N --ttft-samples N --threads N]
var streams = ArgValue("--streams", 8);
var tokens = ArgValue("--tokens", 64);
var rounds = ArgValue("--rounds", 5);
var samples = ArgValue("--ttft-samples", 100);
var threads = ArgValue("--threads", 1);

var work = Path.Combine(Path.GetTempPath(), "serve-gateway-bench");
Directory.CreateDirectory(work);
var spec = new LlamaModelSpec
{
    Name = "gateway-bench", EmbeddingLength = 512, BlockCount = 8, HeadCount = 8, HeadCountKv = 4, FeedForwardLength = 1536,
    VocabSize = 2048, ContextLength = 4096, WeightType = Serve.Gguf.GgmlType.Q8_0, InitStd = 0.05f,
};
var model = ModelMaker.BuildTestModel(work, spec);
var adapters = Path.Combine(work, "adapters-" + Path.GetFileNameWithoutExtension(model));
Directory.CreateDirectory(adapters);
string[] names = ["adapter0", "adapter1", "adapter2", "adapter3"];
for (var i = 0; i < names.Length; i++)
{
    var path = Path.Combine(adapters, names[i] + ".gguf");
    if (!File.Exists(path)) LoraMaker.Write(path, model, new LoraSpec { Seed = 200 + i, Rank = 8, Alpha = 16 });
}
Console.WriteLine($"model {Path.GetFileName(model)}: {spec.ParameterCount / 1e6:F1}M parameters Q8_0, {names.Length} adapters; {Environment.ProcessorCount} cores, {threads} ggml thread(s)");

// Empty content roots: neither app reads an appsettings.json from this output folder (both projects put one here).
var root = Directory.CreateTempSubdirectory("serve-gateway-bench-root-").FullName;
var replicaPort = FreePort();
await using var replica = ServeApplication.Build(
[
    "--model", model, "--adapters", adapters, "--urls", $"http://127.0.0.1:{replicaPort}", "--contentRoot", root,
    $"--Serve:Engine:MaxSequences={Math.Max(8, streams)}", "--Serve:Engine:ContextPerSequence=512", "--Serve:Engine:PrefixCache=false",
    $"--Serve:Engine:Threads={threads}", "--Logging:LogLevel:Default=Warning",
    // The repeated greedy requests must reach the engine, not the response cache (where the server has one).
    "--Serve:Cache:Enabled=false",
]);
await replica.StartAsync();
await WaitReadyAsync(new Uri($"http://127.0.0.1:{replicaPort}"));

var gatewayPort = FreePort();
const string cluster = "ReverseProxy:Clusters:replicas:";
await using var gateway = GatewayApplication.Build(["--urls", $"http://127.0.0.1:{gatewayPort}"], builder =>
{
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["ReverseProxy:Routes:openai:ClusterId"] = "replicas",
        ["ReverseProxy:Routes:openai:Match:Path"] = "/v1/{**rest}",
        [cluster + "LoadBalancingPolicy"] = "AdapterAffinity",
        [cluster + "HealthCheck:Active:Enabled"] = "true",
        [cluster + "HealthCheck:Active:Interval"] = "00:00:05",
        [cluster + "HealthCheck:Active:Path"] = "/healthz/ready",
        [cluster + "HealthCheck:Passive:Enabled"] = "true",
        [cluster + "HttpRequest:ActivityTimeout"] = "00:10:00",
        [cluster + "Destinations:r1:Address"] = $"http://127.0.0.1:{replicaPort}/",
        [cluster + "Destinations:r2:Address"] = $"http://127.0.0.1:{replicaPort}/",
    });
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
}, new WebApplicationOptions { ContentRootPath = root });
await gateway.StartAsync();
await WaitReadyAsync(new Uri($"http://127.0.0.1:{gatewayPort}"));

using var direct = Client(replicaPort);
using var proxied = Client(gatewayPort);
string[] questions =
[
    "Where is the market?", "How do the seasons change?", "Tell me a short story.", "What does this error mean?",
    "Count to five.", "Describe the river.", "Why do we learn?", "Write a letter to a friend.",
];

// Warm-up: JIT, connection pools, adapters loaded, first graphs.
await Load(direct, streams);
await Load(proxied, streams);

// (1) TTFT, one stream at a time so queueing does not drown the hop; pairs alternate which goes first.
var ttftDirect = new List<double>();
var ttftProxied = new List<double>();
var pairedDifference = new List<double>(); // gateway minus direct, same adapter and prompt, back to back
for (var i = 0; i < samples; i++)
{
    var adapter = names[i % names.Length];
    var question = questions[i % questions.Length];
    var first = i % 2 == 0;
    double pairDirect = 0, pairProxied = 0;
    for (var leg = 0; leg < 2; leg++)
    {
        var viaGateway = (leg == 0) != first;
        var (_, ttft) = await SseStream.RunAsync(viaGateway ? proxied : direct, adapter, question, 8, Stopwatch.GetTimestamp());
        (viaGateway ? ttftProxied : ttftDirect).Add(ttft);
        if (viaGateway) pairProxied = ttft;
        else pairDirect = ttft;
    }
    pairedDifference.Add(pairProxied - pairDirect);
}

// (2) Throughput under N concurrent streams (adapters mixed), rounds interleaved; the best round of each counts.
(double TokensPerSecond, double P50, double P90)? bestDirect = null, bestProxied = null;
for (var r = 0; r < rounds; r++)
{
    // Alternate which path goes first, so neither always runs on the machine the other just warmed or loaded.
    var directFirst = r % 2 == 0;
    var d = directFirst ? await Load(direct, streams) : default;
    var p = await Load(proxied, streams);
    if (!directFirst) d = await Load(direct, streams);
    if (bestDirect is null || d.TokensPerSecond > bestDirect.Value.TokensPerSecond) bestDirect = d;
    if (bestProxied is null || p.TokensPerSecond > bestProxied.Value.TokensPerSecond) bestProxied = p;
}

await gateway.StopAsync();
await replica.StopAsync();

double dP50 = Percentile(ttftDirect, 0.5), dP90 = Percentile(ttftDirect, 0.9), gP50 = Percentile(ttftProxied, 0.5), gP90 = Percentile(ttftProxied, 0.9);
Console.WriteLine();
Console.WriteLine($"TTFT, one stream at a time, {samples} samples each (8-token streams):");
Console.WriteLine("| path | TTFT p50 ms | TTFT p90 ms |");
Console.WriteLine("|---|---:|---:|");
Console.WriteLine($"| direct to the replica | {dP50 * 1000:F2} | {dP90 * 1000:F2} |");
Console.WriteLine($"| through the gateway | {gP50 * 1000:F2} | {gP90 * 1000:F2} |");
Console.WriteLine($"gateway - direct: p50 {(gP50 - dP50) * 1000:+0.00;-0.00} ms, p90 {(gP90 - dP90) * 1000:+0.00;-0.00} ms (target <= 5 ms)");
Console.WriteLine($"paired (back-to-back) gateway - direct: median {Percentile(pairedDifference, 0.5) * 1000:+0.00;-0.00} ms");
Console.WriteLine();
Console.WriteLine($"Throughput, {streams} concurrent streams x {tokens} tokens over {names.Length} adapters, best of {rounds} rounds:");
Console.WriteLine("| path | output tok/s | TTFT p50 ms | TTFT p90 ms |");
Console.WriteLine("|---|---:|---:|---:|");
Console.WriteLine($"| direct to the replica | {bestDirect!.Value.TokensPerSecond:F1} | {bestDirect.Value.P50 * 1000:F1} | {bestDirect.Value.P90 * 1000:F1} |");
Console.WriteLine($"| through the gateway | {bestProxied!.Value.TokensPerSecond:F1} | {bestProxied.Value.P50 * 1000:F1} | {bestProxied.Value.P90 * 1000:F1} |");
Console.WriteLine($"gateway/direct throughput: {bestProxied.Value.TokensPerSecond / bestDirect.Value.TokensPerSecond:F3}x (target >= 0.95)");
return 0;

async Task<(double TokensPerSecond, double P50, double P90)> Load(HttpClient client, int count)
{
    var start = Stopwatch.GetTimestamp();
    var results = await Task.WhenAll(Enumerable.Range(0, count).Select(i =>
        Task.Run(() => SseStream.RunAsync(client, names[i % names.Length], questions[i % questions.Length], tokens, start))));
    var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
    var ttft = results.Select(r => r.Ttft).ToList();
    return (results.Sum(r => r.Tokens) / elapsed, Percentile(ttft, 0.5), Percentile(ttft, 0.9));
}

static HttpClient Client(int port) =>
    new(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(5) };

static async Task WaitReadyAsync(Uri address)
{
    using var client = new HttpClient { BaseAddress = address };
    var clock = Stopwatch.StartNew();
    while (true)
    {
        try
        {
            using var response = await client.GetAsync("/healthz/ready");
            if (response.IsSuccessStatusCode) return;
        }
        catch (HttpRequestException)
        {
        }
        if (clock.Elapsed > TimeSpan.FromMinutes(2)) throw new TimeoutException($"{address} was not ready within 2 minutes");
        await Task.Delay(100);
    }
}

static double Percentile(List<double> values, double p)
{
    var sorted = values.Order().ToArray();
    return sorted[Math.Min(sorted.Length - 1, Math.Max(0, (int)Math.Ceiling(p * sorted.Length) - 1))];
}

static int FreePort()
{
    var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
    listener.Start();
    var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    listener.Stop();
    return port;
}

static int ArgValue(string name, int fallback)
{
    var args = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}
