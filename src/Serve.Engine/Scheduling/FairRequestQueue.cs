namespace Serve.Engine.Scheduling;

/// <summary>
/// Fairness between clients (<see cref="GenerationRequest.ClientId"/>) over the scheduler's queue, with no
/// llama.cpp and no clock in it, so it is tested on its own:
/// <list type="bullet">
/// <item>queue places: a client holds at most <see cref="QueueCap"/> of them (<see cref="TryEnterQueue"/>, called from
/// any thread when a request arrives), so one client cannot fill the queue and turn everyone else away;</item>
/// <item>running sequences: a client runs at most <see cref="RunningCap"/> at once (<see cref="CanStart"/>). There is
/// no preemption, so the cap holds even when the client is alone: otherwise a newcomer would wait for one of its
/// long generations to end;</item>
/// <item>order: waiting requests are offered client by client, least recently served client first, each client's
/// own requests first-in first-out (<see cref="Order{T}"/>), so a client with many queued requests takes turns
/// with one that has a single request instead of going ahead of it.</item>
/// </list>
/// Requests without a client id (the engine used in process, benchmarks) are one anonymous client with no caps.
/// Thread-safe.
/// </summary>
internal sealed class FairRequestQueue
{
    private readonly object _gate = new();
    private readonly Dictionary<string, ClientState> _clients = new(StringComparer.Ordinal);
    private long _tick;

    public FairRequestQueue(int maxSequences, int maxQueuedRequests, double runningShare, double queueShare)
    {
        if (!(runningShare is > 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(runningShare), runningShare, "A share is in (0, 1].");
        if (!(queueShare is > 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(queueShare), queueShare, "A share is in (0, 1].");
        RunningCap = Math.Max(1, (int)Math.Floor(maxSequences * runningShare));
        QueueCap = Math.Max(1, (int)Math.Floor(maxQueuedRequests * queueShare));
    }

    /// <summary>Most sequences one client runs at once.</summary>
    public int RunningCap { get; }

    /// <summary>Most queue places one client holds at once.</summary>
    public int QueueCap { get; }

    /// <summary>Takes a queue place for the client; false when it already holds <see cref="QueueCap"/>.</summary>
    public bool TryEnterQueue(string? client)
    {
        if (client is null) return true;
        lock (_gate)
        {
            var state = State(client);
            if (state.Queued >= QueueCap) return false;
            state.Queued++;
            return true;
        }
    }

    /// <summary>Gives the place back: the request was started, cancelled or failed while waiting.</summary>
    public void LeftQueue(string? client)
    {
        if (client is null) return;
        lock (_gate)
        {
            var state = State(client);
            state.Queued--;
            Forget(client, state);
        }
    }

    /// <summary>Whether a request of this client may start now (it runs fewer than <see cref="RunningCap"/>).</summary>
    public bool CanStart(string? client)
    {
        if (client is null) return true;
        lock (_gate) return !_clients.TryGetValue(client, out var state) || state.Running < RunningCap;
    }

    /// <summary>A request of this client started running (it left the queue through <see cref="LeftQueue"/> too).</summary>
    public void Started(string? client)
    {
        lock (_gate)
        {
            var state = State(client ?? "");
            state.Running += client is null ? 0 : 1;
            state.LastServed = ++_tick;
        }
    }

    /// <summary>A running request of this client ended.</summary>
    public void Finished(string? client)
    {
        if (client is null) return;
        lock (_gate)
        {
            var state = State(client);
            state.Running--;
            Forget(client, state);
        }
    }

    /// <summary>
    /// The waiting requests in the order to offer them: round by round, one request of each client per round, clients
    /// least recently served first (ties: whose oldest request came first), each client's requests in arrival order.
    /// </summary>
    public List<T> Order<T>(IReadOnlyList<T> waiting, Func<T, string?> clientOf)
    {
        var byClient = new List<(string Client, long LastServed, int FirstIndex, List<T> Items)>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        lock (_gate)
        {
            for (var i = 0; i < waiting.Count; i++)
            {
                var client = clientOf(waiting[i]) ?? "";
                if (!index.TryGetValue(client, out var k))
                {
                    k = byClient.Count;
                    index[client] = k;
                    byClient.Add((client, _clients.TryGetValue(client, out var s) ? s.LastServed : 0, i, []));
                }
                byClient[k].Items.Add(waiting[i]);
            }
        }
        byClient.Sort((x, y) => x.LastServed != y.LastServed ? x.LastServed.CompareTo(y.LastServed) : x.FirstIndex.CompareTo(y.FirstIndex));
        var order = new List<T>(waiting.Count);
        for (var round = 0; order.Count < waiting.Count; round++)
        {
            foreach (var c in byClient)
            {
                if (round < c.Items.Count) order.Add(c.Items[round]);
            }
        }
        return order;
    }

    /// <summary>Running and queued counts of a client (tests and status).</summary>
    public (int Running, int Queued) Counts(string client)
    {
        lock (_gate) return _clients.TryGetValue(client, out var s) ? (s.Running, s.Queued) : (0, 0);
    }

    private ClientState State(string client)
    {
        if (!_clients.TryGetValue(client, out var state)) _clients[client] = state = new ClientState();
        return state;
    }

    /// <summary>A client with nothing running or queued keeps only its last-served mark, which ordering needs.</summary>
    private void Forget(string client, ClientState state)
    {
        // Bounded memory under many one-off clients: an idle client's mark only matters against clients still queued,
        // and a forgotten one counts as never served, which puts it first: the fair choice for a returning client.
        if (state.Running == 0 && state.Queued == 0) _clients.Remove(client);
    }

    private sealed class ClientState
    {
        public int Running;
        public int Queued;
        public long LastServed;
    }
}
