using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Serve.Testing;

/// <summary>
/// A real redis-server on a free loopback port with its own temp directory and no persistence, started and
/// stopped (or killed, and started again on the same port) by the test. One file, compiled into every test project
/// that needs Redis (each links it in its csproj). Fails with a clear message when redis-server is not installed (scripts/test installs it).
/// </summary>
public sealed class RedisServer : IDisposable
{
    private Process? _process;

    public RedisServer()
    {
        Port = FreePort();
        Directory = Path.Combine(Path.GetTempPath(), "serve-redis-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(Directory);
        Start();
    }

    public int Port { get; }
    public string Directory { get; }
    public string ConnectionString => $"127.0.0.1:{Port}";

    public void Start()
    {
        var executable = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed: run scripts/test (it installs Debian's redis-server) or apt-get install -y redis-server");
        _process = Process.Start(new ProcessStartInfo(executable,
            ["--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", Directory])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                if (_process.HasExited) throw new InvalidOperationException($"redis-server exited with {_process.ExitCode}");
                Thread.Sleep(20);
            }
        }
        throw new TimeoutException("redis-server did not start listening within 10 s");
    }

    /// <summary>Kills the server (SIGKILL: no clean shutdown), as a crash would.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process?.Dispose();
        _process = null;
    }

    /// <summary>
    /// A free port below the kernel's ephemeral range. Tests kill the server and start it again on the same port, and
    /// while it is down an ephemeral port is anyone's: another test's server bound to port 0, or an outgoing
    /// connection, could take it, and the store under test would then reconnect to a stranger (a killed-Redis test saw
    /// its reads succeed with no "unavailable" warning). Outside that range only another RedisServer's own pick, made
    /// in that window and landing on the same port out of thousands, can.
    /// </summary>
    private static int FreePort()
    {
        var low = EphemeralRangeStart();
        const int span = 8000;
        if (low - span >= 10000)
        {
            for (var attempt = 0; attempt < 200; attempt++)
            {
                var port = low - span + Random.Shared.Next(span);
                try
                {
                    using var probe = new TcpListener(IPAddress.Loopback, port);
                    probe.Start();
                    return port;
                }
                catch (SocketException)
                {
                }
            }
        }
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static int EphemeralRangeStart()
    {
        try
        {
            var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32768; // Linux's default
        }
    }

    public void Dispose()
    {
        Kill();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
