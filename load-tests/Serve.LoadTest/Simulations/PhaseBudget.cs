namespace Serve.LoadTest.Simulations;

/// <summary>A phase's optional request limit; reaching it ends the phase early.</summary>
internal sealed class PhaseBudget(long? max, CancellationTokenSource phase)
{
    private long _taken;

    public bool Take()
    {
        if (max is null) return true;
        if (Interlocked.Increment(ref _taken) <= max) return true;
        try
        {
            phase.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The phase already ended.
        }
        return false;
    }
}
