using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Serve.Engine.Adapters;
using Serve.Engine.Sampling;
using Serve.Llama;

namespace Serve.Engine.Scheduling;

/// <summary>
/// Owns the llama.cpp context on one thread and runs continuous batching: the loop around
/// <see cref="SchedulerPolicy"/>, which decides (admission, KV slots with prefix reuse, batch assembly, eviction).
/// Each step: take the policy's plan, decode it (<see cref="IBatchDecoder"/>), commit it, sample, emit. The batch
/// holds decode tokens first and prompt chunks (at most PrefillChunk per sequence) filling the rest. Each token names its own adapter-pool slots, so sequences of every adapter
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
    private readonly SchedulerPolicy _policy;
    private readonly LlamaBatchDecoder _decoder;
    private readonly Dictionary<string, long> _groupServedAt = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(LlamaLoraAdapter Adapter, TaskCompletionSource Done)> _targetRequests = new();
    private readonly int _contextPerSequence;
    private readonly Thread _thread;
    private readonly object _statusGate = new();
    private EngineStatus _status;
    private int _queued;
    private long _steps, _decodes, _generated, _promptTokens, _cachedTokens, _prefillTokens;
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
        _decoder = new LlamaBatchDecoder(context, options.AdaptersPerToken);
        _policy = new SchedulerPolicy(options, context.SeqMax, _decoder);
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
        if (!_policy.Fair.TryEnterQueue(sequence.Request.ClientId))
            throw new EngineOverloadedException($"This client already has {_policy.Fair.QueueCap} requests waiting (its share of the queue); try again later.");
        if (Interlocked.Increment(ref _queued) > _options.MaxQueuedRequests)
        {
            Interlocked.Decrement(ref _queued);
            _policy.Fair.LeftQueue(sequence.Request.ClientId); // fairness hook
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
                var iteration = Stopwatch.GetTimestamp();
                RunTargetRequests();
                TakeIncoming();
                ApplyAborts();
                DropCancelled();
                Admit();
                PublishStatus();
                if (_policy.Running.Count == 0)
                {
                    _context.PauseThreads(); // idle: ggml's workers would otherwise spin for the next decode
                    _wake.WaitOne(_policy.Waiting.Count > 0 ? 50 : Timeout.Infinite);
                    continue;
                }
                if (Step()) _meters.StepDuration.Record(Stopwatch.GetElapsedTime(iteration).TotalSeconds);
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
        while (_incoming.TryDequeue(out var s)) _policy.Waiting.Add(s);
    }

    private void ApplyAborts()
    {
        while (_abortVersions.TryDequeue(out var version))
        {
            foreach (var s in _policy.Running.Where(s => s.Lease!.Uses(version)).ToList())
            {
                var name = s.Lease!.Adapters.First(a => a.Version == version).Name;
                Fail(s, new AdapterUnloadedException(name));
            }
        }
    }

    private void DropCancelled()
    {
        for (var i = _policy.Waiting.Count - 1; i >= 0; i--)
        {
            var s = _policy.Waiting[i];
            if (!s.CancelRequested) continue;
            _policy.Waiting.RemoveAt(i);
            Interlocked.Decrement(ref _queued);
            _policy.Fair.LeftQueue(s.Request.ClientId); // fairness hook
            Complete(s, new OperationCanceledException("The request was cancelled."));
        }
        foreach (var s in _policy.Running.Where(s => s.CancelRequested).ToList())
            Fail(s, new OperationCanceledException("The request was cancelled."));
    }

    private void Admit()
    {
        var (started, refused) = _policy.Admit(s => _catalog.TryAcquire(s.Request.Adapters));
        foreach (var (s, error) in refused)
        {
            Interlocked.Decrement(ref _queued);
            Complete(s, error);
        }
        foreach (var s in started)
        {
            Interlocked.Decrement(ref _queued);
            _promptTokens += s.Prompt.Length;
            _cachedTokens += s.CachedPromptTokens;
            _meters.PromptTokens.Add(s.Prompt.Length, EngineMeters.Adapter(s.AdapterTag));
            if (s.CachedPromptTokens > 0) _meters.CachedPromptTokens.Add(s.CachedPromptTokens, EngineMeters.Adapter(s.AdapterTag));
            s.Output.Writer.TryWrite(new GenerationStarted(s.Prompt.Length, s.CachedPromptTokens, s.Lease!.Configuration));
        }
    }

    /// <summary>One step: the policy's plan decoded in one llama_decode whatever the adapters, committed, then sampled. False when nothing was decoded.</summary>
    private bool Step()
    {
        _steps++;
        var plan = _policy.Plan(_context.BatchSize);
        if (!plan.IsEmpty) DecodePlan(plan);
        foreach (var key in _groupServedAt.Keys.Where(k => !_policy.Running.Any(s => s.Lease!.Configuration.Key == k)).ToList())
            _groupServedAt.Remove(key);
        return !plan.IsEmpty;
    }

    private void DecodePlan(StepPlan plan)
    {
        var now = Stopwatch.GetTimestamp();
        var keys = plan.Members.Select(s => s.Lease!.Configuration.Key).Distinct(StringComparer.Ordinal).ToList();
        foreach (var key in keys)
        {
            if (_groupServedAt.TryGetValue(key, out var servedAt))
                _meters.GroupWait.Record(Stopwatch.GetElapsedTime(servedAt, now).TotalSeconds, EngineMeters.Adapter(plan.Members.First(s => s.Lease!.Configuration.Key == key).AdapterTag));
        }
        _decodes++;
        if (!TryDecode(plan)) return;
        var served = Stopwatch.GetTimestamp();
        foreach (var key in keys) _groupServedAt[key] = served;
        _meters.BatchTokens.Record(plan.Tokens);
        _meters.BatchSequences.Record(plan.Members.Count);

        _prefillTokens += _policy.Commit(plan);
        foreach (var (s, index) in plan.Outputs)
        {
            if (s.Finished) continue;
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

    /// <summary>Decodes the plan; when the KV cache is full, the policy frees idle cached slots and it retries.</summary>
    private bool TryDecode(StepPlan plan)
    {
        while (true)
        {
            try
            {
                if (_decoder.Decode(plan) == DecodeOutcome.Ok) return true;
                if (_policy.EvictIdle()) continue;
                foreach (var s in plan.Members) Fail(s, new EngineException("The KV cache is full; retry with a shorter prompt or fewer tokens."));
                return false;
            }
            catch (LlamaException e)
            {
                _logger.LogError(e, "llama_decode failed for adapter group {Group}", plan.Members[0].Lease!.Configuration.Key);
                foreach (var s in plan.Members) Fail(s, new EngineException("Decoding failed: " + e.Message, inner: e));
                return false;
            }
        }
    }

    private void Sample(Sequence s, int index)
    {
        var token = s.Sampler.Sample(_context, index);
        var logprob = s.Request.Logprobs ? LogprobCalculator.Compute(_vocab, _context.GetLogits(index), token, s.Request.TopLogprobs ?? 0) : null;
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
            if (logprob is not null) s.Output.Writer.TryWrite(new GenerationDelta("", 1, [logprob], s.Choice));
            Finish(s, FinishReason.Stop);
            return;
        }
        var text = s.Stops.Push(s.Decoder.Append(token));
        s.Output.Writer.TryWrite(new GenerationDelta(text, 1, logprob is null ? null : [logprob], s.Choice));
        if (s.Stops.Stopped) Finish(s, FinishReason.Stop);
        else if (s.Generated >= s.MaxTokens || s.Slot!.Tokens.Count >= _contextPerSequence) Finish(s, FinishReason.Length);
        else s.NextToken = token;
    }

    private void Finish(Sequence s, FinishReason reason)
    {
        var rest = s.Stops.Push(s.Decoder.Flush()) + s.Stops.Flush();
        if (rest.Length > 0) s.Output.Writer.TryWrite(new GenerationDelta(rest, 0, null, s.Choice));
        s.Output.Writer.TryWrite(new GenerationCompleted(reason, s.Prompt.Length, s.Generated, s.CachedPromptTokens, s.Choice));
        Release(s, keepKv: _options.PrefixCache);
        if (s.Group is not null && --s.Group.Remaining > 0) return; // the stream ends with the last choice
        _meters.Requests.Add(1, EngineMeters.Adapter(s.AdapterTag), new("outcome", reason == FinishReason.Stop ? "stop" : "length"));
        s.Output.Writer.TryComplete();
    }

    private void Fail(Sequence s, Exception error)
    {
        if (s.Finished) return; // a choice already ended with its group
        _meters.Requests.Add(1, EngineMeters.Adapter(s.AdapterTag), new("outcome", error is OperationCanceledException ? "cancelled" : "error"));
        // One choice failing (or the request cancelled) ends every choice: they share one stream.
        foreach (var member in s.Group?.Members ?? [s]) Release(member, keepKv: false);
        Complete(s, error);
    }

    private static void Complete(Sequence s, Exception? error)
    {
        foreach (var member in s.Group?.Members ?? [s])
        {
            member.Finished = true;
            member.Sampler.Dispose();
        }
        s.Output.Writer.TryComplete(error);
    }

    private void Release(Sequence s, bool keepKv) => _policy.Release(s, keepKv);

    private void FailEverything(Exception error)
    {
        TakeIncoming();
        foreach (var s in _policy.Running.ToList()) Fail(s, error);
        foreach (var s in _policy.Waiting) Complete(s, error);
        _policy.Waiting.Clear();
        PublishStatus();
    }

    private void PublishStatus()
    {
        var status = Snapshot();
        lock (_statusGate) _status = status;
    }

    private EngineStatus Snapshot() => new(
        Ready: !_stopping,
        Running: _policy.Running.Count,
        Waiting: _policy.Waiting.Count + _incoming.Count,
        RunningPerAdapter: _policy.Running.GroupBy(s => s.AdapterTag).ToDictionary(g => g.Key, g => g.Count()),
        WaitingPerAdapter: _policy.Waiting.GroupBy(s => s.AdapterTag).ToDictionary(g => g.Key, g => g.Count()),
        LoadedAdapters: 0,
        Steps: _steps,
        GeneratedTokens: _generated,
        PromptTokens: _promptTokens,
        CachedPromptTokens: _cachedTokens,
        KvTokens: _policy.Slots.Sum(x => x.Tokens.Count),
        Decodes: _decodes,
        PrefillTokens: _prefillTokens,
        // what running sequences can hold: the unified pool, or the running streams (the cache streams above them are
        // reusable, as vLLM does not count cached free blocks as used)
        KvCapacityTokens: _options.KvUnified ? _context.ContextSize : _options.MaxSequences * _contextPerSequence,
        RunningKvTokens: _policy.Running.Sum(s => s.Slot?.Tokens.Count ?? 0),
        RunningAdapters: AdapterNames(_policy.Running),
        WaitingAdapters: AdapterNames(_policy.Waiting.Concat(_incoming)));

    private static string[] AdapterNames(IEnumerable<Sequence> sequences) =>
        [.. sequences.SelectMany(s => s.Request.Adapters.Select(a => a.Name)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Set();
        _thread.Join();
        while (_targetRequests.TryDequeue(out var request)) request.Done.TrySetException(new ObjectDisposedException(nameof(InferenceEngine)));
        _decoder.Dispose();
        _wake.Dispose();
    }
}
