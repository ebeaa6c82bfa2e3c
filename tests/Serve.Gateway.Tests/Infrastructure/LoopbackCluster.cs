using Serve.Models;

namespace Serve.Gateway.Tests.Infrastructure;

/// <summary>A made base model and six adapters (a..f) in a temp directory, shared by the replicas of a test class.</summary>
public sealed class ModelFiles : IDisposable
{
    public static readonly string[] AdapterNames = ["a", "b", "c", "d", "e", "f"];

    public ModelFiles()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("serve-gateway-e2e-").FullName;
        ModelPath = ModelMaker.BuildTestModel(Directory, new LlamaModelSpec { ContextLength = 1024 });
        AdaptersDirectory = Path.Combine(Directory, "adapters");
        System.IO.Directory.CreateDirectory(AdaptersDirectory);
        var seed = 3;
        foreach (var name in AdapterNames)
            LoraMaker.Write(Path.Combine(AdaptersDirectory, name + ".gguf"), ModelPath, new LoraSpec { Seed = seed++ * 13, Std = 0.2f });
    }

    public string Directory { get; }
    public string ModelPath { get; }
    public string AdaptersDirectory { get; }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// Real processes on loopback: N Serve.Server replicas (ids r1..rN) over the same model and adapters, and one
/// Serve.Gateway process with them as the destinations of its "replicas" cluster, probing every second.
/// </summary>
public sealed class LoopbackCluster : IAsyncDisposable
{
    private LoopbackCluster(IReadOnlyList<AppProcess> replicas, AppProcess gateway)
    {
        Replicas = replicas;
        Gateway = gateway;
    }

    public IReadOnlyList<AppProcess> Replicas { get; }
    public AppProcess Gateway { get; }
    public string[] ReplicaIds => [.. Replicas.Select(r => r.Name)];

    public static async Task<LoopbackCluster> StartAsync(ModelFiles files, int replicas = 3)
    {
        // In parallel: each start is mostly process start-up and model load, a few seconds on a busy machine.
        var starting = Enumerable.Range(1, replicas).Select(i => StartReplicaAsync($"r{i}", files)).ToArray();
        AppProcess[] started;
        try
        {
            started = await Task.WhenAll(starting);
        }
        catch
        {
            foreach (var task in starting.Where(t => t.IsCompletedSuccessfully)) await task.Result.DisposeAsync();
            throw;
        }

        const string cluster = "--ReverseProxy:Clusters:replicas:";
        var args = new List<string>
        {
            cluster + "HealthCheck:Active:Interval=00:00:01",
            // A generous probe timeout: a replica slow to answer on a busy machine must not be taken out of rotation.
            cluster + "HealthCheck:Active:Timeout=00:00:05",
            cluster + "Metadata:ConsecutiveFailuresHealthPolicy.Threshold=1",
            "--Logging:LogLevel:Default=Warning",
        };
        args.AddRange(started.Select(r => $"{cluster}Destinations:{r.Name}:Address={r.Address}"));
        try
        {
            var gateway = await AppProcess.StartAsync("gateway", TestPaths.GatewayDll, args, "/healthz/ready", TimeSpan.FromSeconds(60));
            return new LoopbackCluster(started, gateway);
        }
        catch
        {
            foreach (var replica in started) await replica.DisposeAsync();
            throw;
        }
    }

    private static Task<AppProcess> StartReplicaAsync(string id, ModelFiles files) =>
        AppProcess.StartAsync(id, TestPaths.ServerDll,
        [
            "--model", files.ModelPath, "--adapters", files.AdaptersDirectory,
            // One ggml thread per replica: three replicas share two cores with other work (see Serve.Server.Tests).
            "--Serve:Engine:Threads=1", "--Serve:Engine:MaxSequences=8", "--Serve:Engine:ContextPerSequence=512",
            "--Serve:Engine:PrefillChunk=64", "--Logging:LogLevel:Default=Warning",
        ], "/healthz/ready", TimeSpan.FromSeconds(90));

    public AppProcess Replica(string id) => Replicas.Single(r => r.Name == id);

    /// <summary>Output of every process, for a failure message.</summary>
    public string Diagnostics() =>
        string.Join(Environment.NewLine, Replicas.Append(Gateway).Select(p => $"--- {p.Name} ({(p.HasExited ? "exited" : "running")}){Environment.NewLine}{p.RecentOutput()}"));

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        foreach (var replica in Replicas) await replica.DisposeAsync();
    }
}
