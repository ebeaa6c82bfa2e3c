namespace Serve.Redis.Tests.Replicas;

/// <summary>
/// One replica as a real process (the shared <see cref="AppProcess"/> launcher): <c>dotnet Serve.Server.dll --model
/// ... --adapters ...</c> on a loopback port with small engine settings and a one-line-per-entry console log, kept
/// for assertions.
/// </summary>
public static class ServerProcess
{
    public static Task<AppProcess> StartAsync(string name, string model, string adapters, IDictionary<string, string> settings)
    {
        var all = new Dictionary<string, string>
        {
            ["Serve:Engine:MaxSequences"] = "4",
            ["Serve:Engine:ContextPerSequence"] = "512",
            ["Serve:Engine:BatchSize"] = "512",
            ["Serve:Engine:PrefillChunk"] = "64",
            ["Serve:Engine:Threads"] = "1",
            ["Serve:Cluster:ReplicaId"] = name,
            ["Logging:Console:FormatterName"] = "simple",
            ["Logging:Console:FormatterOptions:SingleLine"] = "true",
            ["Logging:LogLevel:Default"] = "Information",
            ["Logging:LogLevel:Microsoft"] = "Warning",
        };
        foreach (var (k, v) in settings) all[k] = v;
        string[] args = ["--model", model, "--adapters", adapters, .. all.Select(kv => $"--{kv.Key}={kv.Value}")];
        return AppProcess.StartAsync(name, TestPaths.ServerDll, args, "/healthz/ready", TimeSpan.FromSeconds(90),
            new Dictionary<string, string> { ["DOTNET_gcServer"] = "0", ["DOTNET_TieredPGO"] = "0" });
    }
}
