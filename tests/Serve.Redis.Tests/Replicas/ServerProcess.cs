using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Reflection;

namespace Serve.Redis.Tests.Replicas;

/// <summary>
/// One replica as a real process: <c>dotnet src/Serve.Server/bin/&lt;config&gt;/net10.0/Serve.Server.dll --model ... --urls
/// http://127.0.0.1:port --redis ...</c>, with its console log kept (one line per entry) for assertions.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private ServerProcess(Process process, Uri address, string name)
    {
        _process = process;
        Address = address;
        Name = name;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Uri Address { get; }
    public string Name { get; }
    public IEnumerable<string> Lines => _lines;

    /// <summary>The server's build output, embedded in this assembly by the csproj (the ProjectReference builds it).</summary>
    public static string ServerDll
    {
        get
        {
            var dll = typeof(ServerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "ServeServerDll")?.Value;
            if (string.IsNullOrEmpty(dll)) throw new InvalidOperationException("The test assembly lacks ServeServerDll; build it through its csproj.");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("Build src/Serve.Server first", dll);
        }
    }

    public static async Task<ServerProcess> StartAsync(string name, string model, string adapters, IDictionary<string, string> settings)
    {
        var port = FreePort();
        var address = new Uri($"http://127.0.0.1:{port}/");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(ServerDll)!, // its appsettings.json applies, as when deployed
        };
        foreach (var a in new[] { ServerDll, "--urls", $"http://127.0.0.1:{port}", "--model", model, "--adapters", adapters }) info.ArgumentList.Add(a);
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
        foreach (var (k, v) in all) info.ArgumentList.Add($"--{k}={v}");
        info.Environment["DOTNET_gcServer"] = "0";
        info.Environment["DOTNET_TieredPGO"] = "0";
        var server = new ServerProcess(Process.Start(info)!, address, name);
        try
        {
            using var http = server.Client();
            var clock = Stopwatch.StartNew();
            while (true)
            {
                if (server._process.HasExited) throw new InvalidOperationException($"replica {name} exited with {server._process.ExitCode}:\n{server.Tail()}");
                if (clock.Elapsed > TimeSpan.FromSeconds(90)) throw new TimeoutException($"replica {name} not ready after 90 s:\n{server.Tail()}");
                try
                {
                    using var ready = await http.GetAsync("healthz/ready");
                    if (ready.StatusCode == HttpStatusCode.OK) return server;
                }
                catch (HttpRequestException)
                {
                }
                await Task.Delay(100);
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public HttpClient Client(string? bearer = null)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(60) };
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    public int Count(string contains) => _lines.Count(l => l.Contains(contains, StringComparison.Ordinal));

    public string Tail(int lines = 40) => string.Join('\n', _lines.TakeLast(lines));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        _process.Dispose();
    }
}
