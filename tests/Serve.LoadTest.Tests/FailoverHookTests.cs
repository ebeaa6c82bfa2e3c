using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Tests;

/// <summary>A hook kills a replica process mid-run; the report shows the error window that follows.</summary>
public sealed class FailoverHookTests
{
    [Fact]
    public async Task KillHook_ReplicaDiesMidRun_ReportShowsTheErrorWindow()
    {
        using var dir = new TempDirectory();
        var pidFile = dir.File("replica.pid");
        var port = FreePort();
        using var replica = StartReplica(port, pidFile);
        try
        {
            var baseUrl = $"http://127.0.0.1:{port}";
            await WaitHealthyAsync(baseUrl, pidFile);
            var spec = ScenarioHarness.Tiny("failover",
                new WorkloadSpec { Adapters = new AdapterMixSpec { Names = ["a", "b"] }, OutputTokens = LengthDistribution.Fixed(8) },
                new PhaseSpec { Kind = PhaseKind.ConstantConcurrency, Concurrency = 4, Duration = TimeSpan.FromSeconds(3.5) });
            spec = spec with { Hooks = [new HookSpec { Name = "kill-replica", At = TimeSpan.FromSeconds(1.2), Action = HookAction.Kill, PidFile = pidFile }] };

            var (result, records) = await ScenarioHarness.RunAsync(spec, baseUrl, dir.File("out"));

            Assert.True(replica.WaitForExit(5000), "the replica was killed");
            var hook = Assert.Single(result.Report.Hooks);
            Assert.True(hook.Succeeded, hook.Detail);
            Assert.InRange(hook.FiredAt!.Value, 1.19, 3.0); // the hook and the report read the clock apart: ~0.1 ms early is the same instant
            var window = Assert.Single(result.Report.ErrorWindows);
            var s = result.Report.Scenarios[0].Stats;
            Assert.True(s.Ok > 0, "requests succeeded before the kill");
            Assert.True(s.Failed > 0, "requests failed after the kill");
            Assert.Equal(s.Sent, s.Ok + s.Failed);
            var failedAfter = records.Where(r => !r.GetProperty("ok").GetBoolean() && r.GetProperty("end").GetDouble() >= hook.FiredAt).ToList();
            Assert.Equal(failedAfter.Count, window.Failures);
            Assert.Equal(s.Failed, window.Failures);
            Assert.True(window.FirstFailure >= hook.FiredAt);
            Assert.True(window.LastFailure >= window.FirstFailure);
            Assert.Equal(Math.Round(failedAfter.Max(r => r.GetProperty("end").GetDouble()), 3), window.LastFailure!.Value, 3);
            // Every success ended before the kill; every later request found the port closed.
            Assert.All(records.Where(r => r.GetProperty("ok").GetBoolean()), r => Assert.True(r.GetProperty("end").GetDouble() <= hook.FiredAt + 0.5));
            Assert.True(s.ErrorsByKind.GetValueOrDefault("connection_refused") > 0, string.Join(", ", s.ErrorsByKind));
            // Requests in flight at the kill had their 200 headers and lost the stream: at most one per user.
            var broken = s.ErrorsByStatus.GetValueOrDefault("200");
            Assert.InRange(broken, 0, 4);
            Assert.Equal(s.Failed, s.ErrorsByStatus["0"] + broken);
        }
        finally
        {
            if (!replica.HasExited) replica.Kill();
        }
    }

    private static Process StartReplica(int port, string pidFile)
    {
        var tool = Path.Combine(AppContext.BaseDirectory, "serve-load.dll");
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { tool, "mock-server", "--port", port.ToString(CultureInfo.InvariantCulture), "--pid-file", pidFile, "--ttft-ms", "5", "--itl-ms", "5" })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitHealthyAsync(string baseUrl, string pidFile)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (File.Exists(pidFile) && (await http.GetAsync(baseUrl + "/health")).StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("the replica did not start");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
