using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace Serve.Testing;

/// <summary>
/// A built ASP.NET Core app (Serve.Server or Serve.Gateway) run as its own process, `dotnet App.dll args`, on a
/// loopback port, with its working directory at its build output so it reads its own appsettings.json. The last
/// lines of its output are kept for failure messages (and every line for log assertions); Kill ends it the hard way
/// (SIGKILL), like a crashed pod. The one child-process launcher of the test projects (linked from tests/Shared).
/// </summary>
public sealed class AppProcess : IAsyncDisposable
{
    private const int KeptLines = 60;
    private readonly Process _process;
    private readonly Queue<string> _output = new();
    private readonly ConcurrentQueue<string> _lines = new();

    private AppProcess(string name, Process process, Uri address)
    {
        Name = name;
        _process = process;
        Address = address;
    }

    public string Name { get; }
    public Uri Address { get; }
    public bool HasExited => _process.HasExited;

    /// <summary>Starts the app and waits until <paramref name="readyPath"/> answers 200 (or the process dies).</summary>
    public static async Task<AppProcess> StartAsync(string name, string dll, IEnumerable<string> args, string readyPath, TimeSpan readyWithin,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var port = Ports.Free();
        var address = new Uri($"http://127.0.0.1:{port}/");
        var info = new ProcessStartInfo(DotnetHost(), [dll, "--urls", $"http://127.0.0.1:{port}", .. args])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        var process = new Process { StartInfo = info };
        var app = new AppProcess(name, process, address);
        process.OutputDataReceived += (_, e) => app.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => app.Keep(e.Data);
        process.Start();
        // Should a test leave without disposing it, the child still ends with the test host.
        AppDomain.CurrentDomain.ProcessExit += app.KillOnExit;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await app.WaitReadyAsync(readyPath, readyWithin);
            return app;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGKILL: no graceful shutdown, open connections drop. Returns once the process is gone.</summary>
    public void Kill()
    {
        if (_process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>Every line the process wrote (stdout and stderr), in arrival order.</summary>
    public IEnumerable<string> Lines => _lines;

    /// <summary>How many output lines contain text.</summary>
    public int Count(string text) => _lines.Count(l => l.Contains(text, StringComparison.Ordinal));

    public HttpClient Client(string? bearer = null, TimeSpan? timeout = null)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = timeout ?? TimeSpan.FromSeconds(60) };
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    public string RecentOutput()
    {
        lock (_output) return string.Join(Environment.NewLine, _output);
    }

    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= KillOnExit;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        _process.Dispose();
    }

    private void KillOnExit(object? sender, EventArgs e)
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone or never started.
        }
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        _lines.Enqueue(line);
        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > KeptLines) _output.Dequeue();
        }
    }

    private async Task WaitReadyAsync(string readyPath, TimeSpan within)
    {
        using var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode} before it was ready:{Environment.NewLine}{RecentOutput()}");
            try
            {
                using var response = await client.GetAsync(readyPath);
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }
            if (clock.Elapsed > within)
                throw new TimeoutException($"{Name} was not ready on {readyPath} within {within}:{Environment.NewLine}{RecentOutput()}");
            await Task.Delay(100);
        }
    }

    /// <summary>The dotnet host the test runs under (dotnet test sets DOTNET_HOST_PATH), else the one on PATH.</summary>
    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
