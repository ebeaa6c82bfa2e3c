using Serve.Engine;

namespace Serve.Server.OpenAi;

/// <summary>
/// An engine generation whose first update was already awaited: the engine reports invalid requests from the first
/// MoveNextAsync, so a request is validated (and errors get their 4xx status) before any response byte is sent.
/// </summary>
public sealed class GenerationRun : IAsyncDisposable
{
    private readonly IAsyncEnumerator<GenerationUpdate> _updates;
    private GenerationUpdate? _pending;

    private GenerationRun(IAsyncEnumerator<GenerationUpdate> updates, GenerationUpdate first)
    {
        _updates = updates;
        _pending = first;
        Started = first as GenerationStarted;
        Completed = first as GenerationCompleted;
    }

    /// <summary>The adapter configuration the engine actually ran with (the response cache stores under it).</summary>
    public GenerationStarted? Started { get; }

    /// <summary>The final update once read: usage for token quotas, and proof the response is whole.</summary>
    public GenerationCompleted? Completed { get; private set; }

    public static async Task<GenerationRun> StartAsync(InferenceEngine engine, GenerationRequest request, CancellationToken cancellationToken)
    {
        var updates = engine.GenerateAsync(request, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            if (!await updates.MoveNextAsync().ConfigureAwait(false))
                throw new InvalidOperationException("The engine ended a generation without any update.");
            return new GenerationRun(updates, updates.Current);
        }
        catch
        {
            await updates.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async IAsyncEnumerable<GenerationUpdate> ReadAllAsync()
    {
        if (_pending is { } first)
        {
            _pending = null;
            yield return first;
        }
        while (await _updates.MoveNextAsync().ConfigureAwait(false))
        {
            if (_updates.Current is GenerationCompleted completed) Completed = completed;
            yield return _updates.Current;
        }
    }

    public ValueTask DisposeAsync() => _updates.DisposeAsync();
}
