using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Diagnostics;
using OpenAI;
using OpenAI.Chat;

namespace Serve.Gateway.Tests.Infrastructure;

/// <summary>One request of a load run: which adapter, when it was sent and answered, which replica answered (the gateway's x-serve-replica header), or how it failed.</summary>
public sealed record Outcome(string Adapter, long Sent, long Answered, string? Replica, int? Status, string? Error)
{
    public bool Succeeded => Status == 200 && Replica is not null;
}

/// <summary>
/// Closed-loop load through the gateway with the official OpenAI SDK (its retries off, so every failure shows):
/// workers send short greedy chat completions, the adapters in turn, until told to stop.
/// </summary>
public sealed class AdapterLoad : IAsyncDisposable
{
    private readonly ConcurrentQueue<Outcome> _outcomes = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private int _next = -1;

    private AdapterLoad(Uri gateway, string[] adapters, int workers, TimeSpan limit)
    {
        _stop.CancelAfter(limit);
        var options = new OpenAIClientOptions
        {
            Endpoint = new Uri(gateway, "v1"),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = TimeSpan.FromSeconds(30),
        };
        var clients = adapters.ToDictionary(a => a, a => new ChatClient(a, new ApiKeyCredential("sk-unused"), options));
        _workers = [.. Enumerable.Range(0, workers).Select(w => Task.Run(() => WorkAsync(adapters, clients)))];
    }

    public static AdapterLoad Start(Uri gateway, string[] adapters, int workers, TimeSpan limit) => new(gateway, adapters, workers, limit);

    public IReadOnlyList<Outcome> Outcomes => [.. _outcomes];

    public int Count => _outcomes.Count;

    /// <summary>Waits until <paramref name="done"/> holds for the outcomes so far, or the load's time limit passes.</summary>
    public async Task<bool> WaitUntilAsync(Func<IReadOnlyList<Outcome>, bool> done)
    {
        while (!_stop.IsCancellationRequested)
        {
            if (done(Outcomes)) return true;
            await Task.Delay(20);
        }
        return done(Outcomes);
    }

    public async Task<IReadOnlyList<Outcome>> StopAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_workers);
        return Outcomes;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task WorkAsync(string[] adapters, Dictionary<string, ChatClient> clients)
    {
        var completion = new ChatCompletionOptions { MaxOutputTokenCount = 4, Temperature = 0f };
        while (!_stop.IsCancellationRequested)
        {
            // One shared sequence, so every adapter gets its share whichever worker is slow.
            var i = Interlocked.Increment(ref _next);
            var adapter = adapters[i % adapters.Length];
            List<ChatMessage> messages = [new UserChatMessage($"Tell me about the market, number {i}.")];
            var sent = Stopwatch.GetTimestamp();
            try
            {
                // Not cancelled by _stop: a request once sent runs to its end, so stopping never fabricates a failure.
                var result = await clients[adapter].CompleteChatAsync(messages, completion);
                var response = result.GetRawResponse();
                response.Headers.TryGetValue("x-serve-replica", out var replica);
                _outcomes.Enqueue(new Outcome(adapter, sent, Stopwatch.GetTimestamp(), replica, response.Status, null));
            }
            catch (ClientResultException e)
            {
                _outcomes.Enqueue(new Outcome(adapter, sent, Stopwatch.GetTimestamp(), null, e.Status, e.Message));
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                _outcomes.Enqueue(new Outcome(adapter, sent, Stopwatch.GetTimestamp(), null, null, e.GetType().Name + ": " + e.Message));
            }
        }
    }
}
