using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Serve.Engine.Adapters;
using Serve.Engine.Sampling;
using Serve.Llama;

namespace Serve.Engine.Scheduling;

/// <summary>
/// Owns the llama.cpp context on one thread and runs continuous batching. Each step it admits queued requests into
/// free sequence slots (reusing a cached prefix of the same adapter configuration), then decodes every sequence
/// that has work in one llama_decode, decode tokens first and prompt chunks (at most PrefillChunk per sequence)
/// filling the rest of the batch. Each token names its own adapter-pool slots, so sequences of every adapter
/// configuration share the decode (llama.cpp applies each token's LoRA inside the graph) and no adapter waits for
/// another. Between decodes it also gives the pool room for the weights a newly loading adapter changes.
/// </summary>
internal sealed class BatchScheduler : IDisposable
{
    private readonly LlamaContext _context;
    private readonly LlamaVocab _vocab;
    private readonly AdapterCatalog _catalog;
    private readonly EngineOptions _options;
    private readonly EngineMeters _meters;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<Sequence> _incoming = new();
    private readonly ConcurrentQueue<string> _abortVersions = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly List<Sequence> _waiting = [];
    private readonly List<Sequence> _running = [];
    private readonly FairRequestQueue _fair; // fairness hook (issue 17)
    private readonly KvSlot[] _slots;
    private readonly Dictionary<string, long> _groupServedAt = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(LlamaLoraAdapter Adapter, TaskCompletionSource Done)> _targetRequests = new();
    private readonly LlamaBatch _batch;
    private readonly int _contextPerSequence;
    private readonly Thread _thread;
    private readonly object _statusGate = new();
    private EngineStatus _status;
    private long _clock;
    private int _queued;
    private long _steps, _decodes, _generated, _promptTokens, _cachedTokens;
    private volatile bool _stopping;

    public BatchScheduler(LlamaContext context, AdapterCatalog catalog, EngineOptions options, EngineMeters meters, ILogger logger)
    {
        _contextPerSequence = options.ContextPerSequence ?? throw new ArgumentException("The engine resolves ContextPerSequence before scheduling.", nameof(options));
        _context = context;
        _vocab = context.Vocab;
        _catalog = catalog;
        _options = options;
        _meters = meters;
        _logger = logger;
        _slots = [.. Enumerable.Range(0, context.SeqMax).Select(i => new KvSlot(i))];
        _fair = new FairRequestQueue(options.MaxSequences, options.MaxQueuedRequests, options.ClientRunningShare, options.ClientQueueShare); // fairness hook
        _batch = new LlamaBatch(context.BatchSize, adaptersPerToken: options.AdaptersPerToken);
        _status = Snapshot();
        _thread = new Thread(Run) { IsBackground = true, Name = "serve-scheduler" };
        _thread.Start();
    }

    public EngineStatus Status
    {
        get { lock (_statusGate) return _status with { LoadedAdapters = _catalog.LoadedCount }; }
    }

    /// <summary>Queues a sequence; throws EngineOverloadedException when MaxQueuedRequests are already waiting.</summary>
    public void Enqueue(Sequence sequence)
    {
        if (_stopping) throw new ObjectDisposedException(nameof(InferenceEngine));
        // fairness hook: a client's own share of queue places first, then the queue's total.
        if (!_fair.TryEnterQueue(sequence.Request.ClientId))
            throw new EngineOverloadedException($"This client already has {_fair.QueueCap} requests waiting (its share of the queue); try again later.");
        if (Interlocked.Increment(ref _queued) > _options.MaxQueuedRequests)
        {
            Interlocked.Decrement(ref _queued);
            _fair.LeftQueue(sequence.Request.ClientId); // fairness hook
            throw new EngineOverloadedException($"{_options.MaxQueuedRequests} requests are already waiting; try again later.");
        }
        _incoming.Enqueue(sequence);
        _wake.Set();
    }

    public void Wake() => _wake.Set();

    /// <summary>
    /// Gives the adapter pool room for the weights this adapter changes, on the scheduler thread between two decodes
    /// (the only pool change that alters the graph; a loader thread waits for it, then fills its slot itself).
    /// </summary>
    public Task PrepareTargets(LlamaLoraAdapter adapter)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_stopping) done.SetException(new ObjectDisposedException(nameof(InferenceEngine)));
        else _targetRequests.Enqueue((adapter, done));
        _wake.Set();
        return done.Task;
    }

    private void RunTargetRequests()
    {
        while (_targetRequests.TryDequeue(out var request))
        {
            try
            {
                var added = _context.AdapterPool!.AddTargets(request.Adapter);
                if (added > 0) _logger.LogInformation("Adapter pool: {Added} more weights take per-token LoRA ({Total} in all)", added, _context.AdapterPool.TargetCount);
                request.Done.SetResult();
            }
            catch (Exception e)
            {
                request.Done.SetException(e);
            }
        }
    }

    /// <summary>Ends, at the next step, every running or queued sequence that uses this adapter version.</summary>
    public void AbortAdapter(string version)
    {
        _abortVersions.Enqueue(version);
        _wake.Set();
    }

    private void Run()
    {
        try
        {
            while (!_stopping)
            {
                RunTargetRequests();
                TakeIncoming();
                ApplyAborts();
                DropCancelled();
                Admit();
                PublishStatus();
                if (_running.Count == 0)
                {
                    _context.PauseThreads(); // idle: ggml's workers would otherwise spin for the next decode
                    _wake.WaitOne(_waiting.Count > 0 ? 50 : Timeout.Infinite);
                    continue;
                }
                Step();
            }
        }
        catch (Exception e)
        {
            _logger.LogCritical(e, "The scheduler stopped on an unexpected error");
            FailEverything(new EngineException("The engine's scheduler failed: " + e.Message, inner: e));
            return;
        }
        FailEverything(new EngineException("The engine is shutting down."));
    }

    private void TakeIncoming()
    {
        while (_incoming.TryDequeue(out var s)) _waiting.Add(s);
    }

    private void ApplyAborts()
    {
        while (_abortVersions.TryDequeue(out var version))
        {
            foreach (var s in _running.Where(s => s.Lease!.Uses(version)).ToList())
            {
                var name = s.Lease!.Adapters.First(a => a.Version == version).Name;
                Fail(s, new AdapterUnloadedException(name));
            }
        }
    }

    private void DropCancelled()
    {
        for (var i = _waiting.Count - 1; i >= 0; i--)
        {
            var s = _waiting[i];
            if (!s.CancelRequested) continue;
            _waiting.RemoveAt(i);
            Interlocked.Decrement(ref _queued);
            _fair.LeftQueue(s.Request.ClientId); // fairness hook
            Complete(s, new OperationCanceledException("The request was cancelled."));
        }
        foreach (var s in _running.Where(s => s.CancelRequested).ToList())
            Fail(s, new OperationCanceledException("The request was cancelled."));
    }

    private void Admit()
    {
        // fairness hook: offered client by client (FairRequestQueue.Order), each client within its running share.
        foreach (var s in _waiting.Count == 0 || _running.Count >= _options.MaxSequences ? [] : _fair.Order(_waiting, w => w.Request.ClientId))
        {
            if (_running.Count >= _options.MaxSequences) break;
            if (!_fair.CanStart(s.Request.ClientId)) continue;
            AdapterLease? lease;
            try
            {
                lease = _catalog.TryAcquire(s.Request.Adapters);
            }
            catch (Exception e) when (e is EngineException or ObjectDisposedException)
            {
                _waiting.Remove(s);
                Interlocked.Decrement(ref _queued);
                _fair.LeftQueue(s.Request.ClientId); // fairness hook
                Complete(s, e);
                continue;
            }
            if (lease is null) continue; // its adapters cannot be loaded until others are released
            _waiting.Remove(s);
            Interlocked.Decrement(ref _queued);
            _fair.LeftQueue(s.Request.ClientId); // fairness hook
            _fair.Started(s.Request.ClientId); // fairness hook
            s.Lease = lease;
            AssignSlot(s);
            _running.Add(s);
            _promptTokens += s.Prompt.Length;
            _cachedTokens += s.CachedPromptTokens;
            _meters.PromptTokens.Add(s.Prompt.Length, EngineMeters.Adapter(s.AdapterTag));
            if (s.CachedPromptTokens > 0) _meters.CachedPromptTokens.Add(s.CachedPromptTokens, EngineMeters.Adapter(s.AdapterTag));
            s.Output.Writer.TryWrite(new GenerationStarted(s.Prompt.Length, s.CachedPromptTokens, lease.Configuration));
        }
    }

    /// <summary>
    /// Gives the sequence a slot. With the prefix cache, the slot (idle or running) of the same adapter
    /// configuration sharing the longest prompt prefix is the source: an idle source is reused in place, a running
    /// one shares its cells with a fresh slot (llama.cpp's unified KV copies by reference).
    /// </summary>
    private void AssignSlot(Sequence s)
    {
        var configuration = s.Lease!.Configuration;
        KvSlot? source = null;
        var reuse = 0;
        if (_options.PrefixCache)
        {
            foreach (var slot in _slots)
            {
                if (slot.Tokens.Count == 0 || !configuration.Equals(slot.Configuration)) continue;
                var n = slot.CommonPrefix(s.Prompt);
                if (n > reuse || (n == reuse && n > 0 && source!.Owner is not null && slot.Owner is null)) { reuse = n; source = slot; }
            }
            reuse = Math.Min(reuse, s.Prompt.Length - 1); // the last prompt token must be decoded for its logits
        }
        var memory = _context.Memory;
        KvSlot target;
        if (source is { Owner: null } && reuse > 0)
        {
            target = source;
            memory.SeqRemove(target.SequenceId, reuse, -1);
            target.Tokens.RemoveRange(reuse, target.Tokens.Count - reuse);
        }
        else
        {
            // Least valuable free slot: empty first, then least recently used.
            target = _slots.Where(x => x.Owner is null).OrderBy(x => x.Tokens.Count > 0).ThenBy(x => x.LastUsed).First();
            Clear(target);
            if (source is not null && reuse > 0)
            {
                memory.SeqCopy(source.SequenceId, target.SequenceId, 0, reuse);
                target.Tokens.AddRange(source.Tokens.Take(reuse));
            }
            else
            {
                reuse = 0;
            }
        }
        target.Owner = s;
        target.Configuration = configuration;
        target.LastUsed = ++_clock;
        s.Slot = target;
        s.PromptCursor = reuse;
        s.CachedPromptTokens = reuse;
    }

    /// <summary>
    /// Every running sequence in one decode whatever its adapters, decode tokens first and prompt chunks in the room
    /// left (BatchSize >= MaxSequences is validated, so every decode token fits).
    /// </summary>
    private void Step()
    {
        _steps++;
        DecodeBatch([.. _running.Where(s => !s.IsPrefilling)], [.. _running.Where(s => s.IsPrefilling)], _context.BatchSize);
        foreach (var key in _groupServedAt.Keys.Where(k => !_running.Any(s => s.Lease!.Configuration.Key == k)).ToList())
            _groupServedAt.Remove(key);
    }

    /// <summary>
    /// One llama_decode: a token for each decoding sequence, then prompt chunks (at most PrefillChunk per sequence)
    /// while the budget lasts, each token with its sequence's adapter slots; then samples every sequence that got
    /// logits.
    /// </summary>
    private void DecodeBatch(List<Sequence> decoding, List<Sequence> prefilling, int budget)
    {
        _batch.Clear();
        var outputs = new List<(Sequence Sequence, int Index)>(decoding.Count);
        var chunks = new List<(Sequence Sequence, int Count)>();
        var members = new List<Sequence>(decoding.Count + prefilling.Count);
        foreach (var s in decoding)
        {
            outputs.Add((s, _batch.Add(s.NextToken, s.Slot!.Tokens.Count, s.Slot.SequenceId, true, s.Lease!.Slots)));
            members.Add(s);
            budget--;
        }
        foreach (var s in prefilling)
        {
            if (budget <= 0) break;
            var n = Math.Min(Math.Min(_options.PrefillChunk, s.Prompt.Length - s.PromptCursor), budget);
            var last = s.PromptCursor + n == s.Prompt.Length;
            _batch.AddRange(s.Prompt.AsSpan(s.PromptCursor, n), s.PromptCursor, s.Slot!.SequenceId, last, s.Lease!.Slots);
            if (last) outputs.Add((s, _batch.Count - 1));
            chunks.Add((s, n));
            members.Add(s);
            budget -= n;
        }
        if (_batch.Count == 0) return;

        var now = Stopwatch.GetTimestamp();
        var keys = members.Select(s => s.Lease!.Configuration.Key).Distinct(StringComparer.Ordinal).ToList();
        foreach (var key in keys)
        {
            if (_groupServedAt.TryGetValue(key, out var servedAt))
                _meters.GroupWait.Record(Stopwatch.GetElapsedTime(servedAt, now).TotalSeconds, EngineMeters.Adapter(members.First(s => s.Lease!.Configuration.Key == key).AdapterTag));
        }
        _decodes++;
        if (!TryDecode(members)) return;
        var served = Stopwatch.GetTimestamp();
        foreach (var key in keys) _groupServedAt[key] = served;
        _meters.BatchTokens.Record(_batch.Count);
        _meters.BatchSequences.Record(members.Count);

        foreach (var s in decoding) s.Slot!.Tokens.Add(s.NextToken);
        foreach (var (s, n) in chunks)
        {
            s.Slot!.Tokens.AddRange(s.Prompt.AsSpan(s.PromptCursor, n));
            s.PromptCursor += n;
        }
        foreach (var (s, index) in outputs)
        {
            try
            {
                Sample(s, index);
            }
            catch (Exception e) when (e is LlamaException or ArgumentException)
            {
                Fail(s, new EngineException("Sampling failed: " + e.Message, inner: e));
            }
        }
    }

    /// <summary>Decodes the batch; when the KV cache is full, frees idle cached slots and retries.</summary>
    private bool TryDecode(List<Sequence> group)
    {
        while (true)
        {
            try
            {
                _context.Decode(_batch);
                return true;
            }
            catch (LlamaDecodeException e) when (e.IsNoKvSlot)
            {
                var idle = _slots.Where(x => x.Owner is null && x.Tokens.Count > 0).MinBy(x => x.LastUsed);
                if (idle is not null)
                {
                    Clear(idle);
                    continue;
                }
                foreach (var s in group) Fail(s, new EngineException("The KV cache is full; retry with a shorter prompt or fewer tokens.", inner: e));
                return false;
            }
            catch (LlamaException e)
            {
                _logger.LogError(e, "llama_decode failed for adapter group {Group}", group[0].Lease!.Configuration.Key);
                foreach (var s in group) Fail(s, new EngineException("Decoding failed: " + e.Message, inner: e));
                return false;
            }
        }
    }

    private void Sample(Sequence s, int index)
    {
        var token = s.Sampler.Sample(_context, index);
        var logprob = s.Request.Logprobs ? LogprobCalculator.Compute(_vocab, _context.GetLogits(index), token, s.Request.TopLogprobs) : null;
        var now = Stopwatch.GetTimestamp();
        var tag = EngineMeters.Adapter(s.AdapterTag);
        if (s.Generated == 0)
        {
            s.FirstTokenAt = now;
            _meters.TimeToFirstToken.Record(Stopwatch.GetElapsedTime(s.EnqueuedAt, now).TotalSeconds, tag);
        }
        else
        {
            _meters.TimePerOutputToken.Record(Stopwatch.GetElapsedTime(s.LastTokenAt, now).TotalSeconds, tag);
        }
        s.LastTokenAt = now;
        s.Generated++;
        _generated++;
        _meters.GeneratedTokens.Add(1, tag);

        if (!s.Request.IgnoreEos && _vocab.IsEog(token))
        {
            if (logprob is not null) s.Output.Writer.TryWrite(new GenerationDelta("", 1, [logprob]));
            Finish(s, FinishReason.Stop);
            return;
        }
        var text = s.Stops.Push(s.Decoder.Append(token));
        s.Output.Writer.TryWrite(new GenerationDelta(text, 1, logprob is null ? null : [logprob]));
        if (s.Stops.Stopped) Finish(s, FinishReason.Stop);
        else if (s.Generated >= s.MaxTokens || s.Slot!.Tokens.Count >= _contextPerSequence) Finish(s, FinishReason.Length);
        else s.NextToken = token;
    }

    private void Finish(Sequence s, FinishReason reason)
    {
        var rest = s.Stops.Push(s.Decoder.Flush()) + s.Stops.Flush();
        if (rest.Length > 0) s.Output.Writer.TryWrite(new GenerationDelta(rest, 0, null));
        s.Output.Writer.TryWrite(new GenerationCompleted(reason, s.Prompt.Length, s.Generated, s.CachedPromptTokens));
        _meters.Requests.Add(1, EngineMeters.Adapter(s.AdapterTag), new("outcome", reason == FinishReason.Stop ? "stop" : "length"));
        Release(s, keepKv: _options.PrefixCache);
        s.Output.Writer.TryComplete();
    }

    private void Fail(Sequence s, Exception error)
    {
        _meters.Requests.Add(1, EngineMeters.Adapter(s.AdapterTag), new("outcome", error is OperationCanceledException ? "cancelled" : "error"));
        Release(s, keepKv: false);
        Complete(s, error);
    }

    private static void Complete(Sequence s, Exception? error)
    {
        s.Finished = true;
        s.Sampler.Dispose();
        s.Output.Writer.TryComplete(error);
    }

    private void Release(Sequence s, bool keepKv)
    {
        if (s.Finished) return;
        s.Finished = true;
        if (_running.Remove(s)) _fair.Finished(s.Request.ClientId); // fairness hook
        s.Lease?.Release();
        s.Sampler.Dispose();
        if (s.Slot is { } slot)
        {
            slot.Owner = null;
            slot.LastUsed = ++_clock;
            if (!keepKv) Clear(slot);
        }
    }

    private void Clear(KvSlot slot)
    {
        if (slot.Tokens.Count > 0) _context.Memory.SeqRemove(slot.SequenceId);
        slot.Tokens.Clear();
        slot.Configuration = null;
    }

    private void FailEverything(Exception error)
    {
        TakeIncoming();
        foreach (var s in _running.ToList()) Fail(s, error);
        foreach (var s in _waiting) Complete(s, error);
        _waiting.Clear();
        PublishStatus();
    }

    private void PublishStatus()
    {
        var status = Snapshot();
        lock (_statusGate) _status = status;
    }

    private EngineStatus Snapshot() => new(
        Ready: !_stopping,
        Running: _running.Count,
        Waiting: _waiting.Count + _incoming.Count,
        RunningPerAdapter: _running.GroupBy(s => s.AdapterTag).ToDictionary(g => g.Key, g => g.Count()),
        WaitingPerAdapter: _waiting.GroupBy(s => s.AdapterTag).ToDictionary(g => g.Key, g => g.Count()),
        LoadedAdapters: 0,
        Steps: _steps,
        GeneratedTokens: _generated,
        PromptTokens: _promptTokens,
        CachedPromptTokens: _cachedTokens,
        KvTokens: _slots.Sum(x => x.Tokens.Count),
        Decodes: _decodes,
        KvCapacityTokens: _slots.Length * _contextPerSequence,
        RunningKvTokens: _running.Sum(s => s.Slot?.Tokens.Count ?? 0),
        RunningAdapters: AdapterNames(_running),
        WaitingAdapters: AdapterNames(_waiting.Concat(_incoming)));

    private static string[] AdapterNames(IEnumerable<Sequence> sequences) =>
        [.. sequences.SelectMany(s => s.Request.Adapters.Select(a => a.Name)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Set();
        _thread.Join();
        while (_targetRequests.TryDequeue(out var request)) request.Done.TrySetException(new ObjectDisposedException(nameof(InferenceEngine)));
        _batch.Dispose();
        _wake.Dispose();
    }
}
