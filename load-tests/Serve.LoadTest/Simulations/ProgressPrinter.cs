using System.Globalization;

namespace Serve.LoadTest.Simulations;

/// <summary>Prints one line per scenario per interval while the run goes: plain lines, so CI logs keep them.</summary>
public sealed class ProgressPrinter(IReadOnlyList<ScenarioDriver> drivers, RunClock clock, TextWriter output)
{
    private readonly Dictionary<string, (long Ok, long Failed, long Tokens, double At)> _last = [];

    public async Task RunAsync(TimeSpan interval, CancellationToken token)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false)) Print();
        }
        catch (OperationCanceledException)
        {
            // The run ended.
        }
    }

    public void Print()
    {
        var now = clock.Now;
        var nameWidth = drivers.Max(d => d.Metrics.Name.Length);
        foreach (var d in drivers)
        {
            var m = d.Metrics;
            var (ok, failed, tokens, ttft95, e2e95) = m.Read((buckets, _) =>
            {
                // The last full interval: the current one is still filling.
                var last = buckets.Count > 1 ? buckets[^2] : buckets.Count == 1 ? buckets[0] : null;
                return (m.Overall.Ok, m.Overall.Failed, m.Overall.OutputTokens,
                    last?.Ttft.PercentileMs(95) ?? 0, last?.E2e.PercentileMs(95) ?? 0);
            });
            var prev = _last.GetValueOrDefault(m.Name);
            var dt = Math.Max(now - prev.At, 1e-3);
            _last[m.Name] = (ok, failed, tokens, now);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{now,7:F1}s] {m.Name.PadRight(nameWidth)} {m.CurrentPhase,-14} warm {m.WarmUpRequests,6} sent {m.Dispatched,7} ok {ok,7} fail {failed,5} in-flight {m.InFlight,4} " +
                $"| {(ok - prev.Ok) / dt,7:F1} req/s {(tokens - prev.Tokens) / dt,8:F0} tok/s {(failed - prev.Failed) / dt,5:F1} err/s | p95 ttft {ttft95,7:F1} e2e {e2e95,8:F1} ms"));
        }
    }
}
