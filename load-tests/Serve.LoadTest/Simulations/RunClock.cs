using System.Diagnostics;

namespace Serve.LoadTest.Simulations;

/// <summary>Seconds since the run started, from the monotonic clock.</summary>
public sealed class RunClock
{
    private readonly long _origin = Stopwatch.GetTimestamp();

    public double Now => Stopwatch.GetElapsedTime(_origin).TotalSeconds;

    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>Waits until <paramref name="at"/> run seconds; returns false when cancelled first.</summary>
    public async Task<bool> WaitUntilAsync(double at, CancellationToken token)
    {
        var delay = at - Now;
        if (delay <= 0) return !token.IsCancellationRequested;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(delay), token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
