using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Serve.SideBySide;

/// <summary>A server child process on a free loopback port: started, waited on until it answers, then stopped.
/// Its output goes to a log file, whose tail is shown when it fails.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    public string Name { get; }
    public string BaseUrl { get; }
    public string LogPath { get; }

    private ServerProcess(string name, Process process, StreamWriter log, string logPath, int port)
    {
        Name = name;
        _process = process;
        _log = log;
        LogPath = logPath;
        BaseUrl = $"http://127.0.0.1:{port}";
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<ServerProcess> StartAsync(string name, string fileName, IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string> environment, int port, string logPath, TimeSpan startTimeout)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        foreach (var (k, v) in environment) info.Environment[k] = v;
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        if (!process.Start()) throw new BenchFailedException($"{name}: could not start {fileName}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new ServerProcess(name, process, log, logPath, port);
        await server.WaitReadyAsync(startTimeout).ConfigureAwait(false);
        return server;
    }

    /// <summary>Ready when GET /v1/models answers 200 (both servers answer 503 while the model loads).</summary>
    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (_process.HasExited)
                throw new BenchFailedException($"{Name} exited with code {_process.ExitCode} while starting; the end of {LogPath}:\n{Tail()}");
            try
            {
                using var response = await http.GetAsync(BaseUrl + "/v1/models").ConfigureAwait(false);
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(200).ConfigureAwait(false);
        }
        await DisposeAsync().ConfigureAwait(false);
        throw new BenchFailedException($"{Name} did not answer on {BaseUrl} within {timeout.TotalSeconds:F0} s; the end of {LogPath}:\n{Tail()}");
    }

    public string Tail(int lines = 30)
    {
        lock (_log) _log.Flush();
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException e)
        {
            return $"(log unreadable: {e.Message})";
        }
    }

    public bool HasExited => _process.HasExited;

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException) { }
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { }
        }
        _process.Dispose();
        lock (_log) _log.Dispose();
    }
}
