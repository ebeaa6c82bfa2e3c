using Serve.Engine;

namespace Serve.Server.OpenAi;

/// <summary>
/// An engine generation whose first update was already awaited: what the engine can still refuse once a request is
/// prepared (an invalid grammar, a full queue) comes from the first MoveNextAsync, so errors get their 4xx/503 status
/// before any response byte is sent.
/// </summary>
internal sealed class GenerationRun : IAsyncDisposable
{
    private readonly IAsyncEnumerator<GenerationUpdate> _updates;
    private readonly int _choices;
    private GenerationUpdate? _pending;
    private int _completedChoices;
    private int _completionTokens;

    private GenerationRun(IAsyncEnumerator<GenerationUpdate> updates, GenerationUpdate first, int choices)
    {
        _updates = updates;
        _pending = first;
        _choices = choices;
        Started = first as GenerationStarted;
        if (first is GenerationCompleted completed) Count(completed);
    }

    /// <summary>The adapter configuration the engine actually ran with (the response cache stores under it).</summary>
    public GenerationStarted? Started { get; }

    /// <summary>
    /// Set once every choice has completed: usage for the response and token quotas, and proof the response is whole.
    /// With n choices the prompt counts once and the completion tokens are summed (as OpenAI's usage does); Reason
    /// and Choice are the last choice's.
    /// </summary>
    public GenerationCompleted? Completed { get; private set; }

    public static async Task<GenerationRun> StartAsync(InferenceEngine engine, PreparedGeneration prepared, CancellationToken cancellationToken)
    {
        var updates = engine.GenerateAsync(prepared, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            if (!await updates.MoveNextAsync().ConfigureAwait(false))
                throw new InvalidOperationException("The engine ended a generation without any update.");
            return new GenerationRun(updates, updates.Current, prepared.Request.Choices);
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
            if (_updates.Current is GenerationCompleted completed) Count(completed);
            yield return _updates.Current;
        }
    }

    private void Count(GenerationCompleted completed)
    {
        _completionTokens += completed.CompletionTokens;
        if (++_completedChoices == _choices) Completed = completed with { CompletionTokens = _completionTokens };
    }

    public ValueTask DisposeAsync() => _updates.DisposeAsync();
}
