using Microsoft.Extensions.Logging;
using Serve.Llama;

namespace Serve.Engine.Adapters;

/// <summary>
/// The resident adapters: which adapter version sits in which slot of the context's <see cref="LlamaAdapterPool"/>.
/// An adapter is loaded into a free slot, or into the slot of the least recently used adapter that no sequence
/// uses and that is not pinned. Loading never runs on the scheduler thread: the file is read and checked by
/// llama.cpp and copied into its slot on a worker; only the pool's one-off room for weights no adapter changed
/// before (<see cref="LlamaAdapterPool.AddTargets"/>) runs between two decodes, through
/// <see cref="PrepareTargets"/>, and only for an adapter that changes such a weight: one whose weights all have
/// room already goes straight into its slot without waiting for the scheduler. A request whose adapter is loading
/// waits alone: others are admitted past it.
/// Thread-safe.
/// </summary>
internal sealed class AdapterSlots
{
    private readonly object _gate = new();
    private readonly LlamaModel _model;
    private readonly ILogger _logger;
    private readonly Dictionary<string, LoadedAdapter> _byVersion = new(StringComparer.Ordinal);
    private readonly List<LoadedAdapter> _draining = [];
    private readonly LoadedAdapter?[] _slots;
    private readonly HashSet<string> _pooledTargets = new(StringComparer.Ordinal); // base weights with room in the pool
    private long _clock;
    private bool _disposed;

    public AdapterSlots(LlamaModel model, int capacity, ILogger logger)
    {
        _model = model;
        _logger = logger;
        _slots = new LoadedAdapter?[capacity];
    }

    /// <summary>Set by the engine: the context's pool.</summary>
    internal LlamaAdapterPool? Pool { get; set; }

    /// <summary>Set by the engine: runs AddTargets for an adapter on the scheduler thread, between decodes.</summary>
    internal Func<LlamaLoraAdapter, Task>? PrepareTargets { get; set; }

    /// <summary>Set by the engine: wakes the scheduler (an adapter became ready or failed).</summary>
    internal Action? Wake { get; set; }

    /// <summary>Set by the engine: its instruments (loads started and finished, load time, evictions).</summary>
    internal EngineMeters? Meters { get; set; }

    /// <summary>Loads that asked the scheduler for pool room (PrepareTargets): the first adapter to change some weight.</summary>
    internal int TargetPreparations { get; private set; }

    /// <summary>Adapters resident and ready.</summary>
    public int LoadedCount
    {
        get { lock (_gate) return _byVersion.Values.Count(a => a.IsReady); }
    }

    public bool IsLoaded(string version)
    {
        lock (_gate) return _byVersion.TryGetValue(version, out var a) && a.IsReady;
    }

    /// <summary>Sequences using this adapter name, over all its resident versions.</summary>
    public int ActiveCount(string name)
    {
        lock (_gate) return _byVersion.Values.Concat(_draining).Where(a => a.Name == name).Sum(a => a.RefCount);
    }

    /// <summary>
    /// For one sequence: a reference on each adapter when all are resident and ready. Null when it must wait (an
    /// adapter is loading, or every slot holds a pinned or in-use adapter); loads are started here. Throws
    /// EngineException when an adapter failed to load.
    /// </summary>
    public LoadedAdapter[]? TryAcquire(IReadOnlyList<AdapterSource> wanted)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var found = new LoadedAdapter?[wanted.Count];
            var waiting = false;
            for (var i = 0; i < wanted.Count; i++)
            {
                if (_byVersion.TryGetValue(wanted[i].Version, out var a))
                {
                    if (a.Failure is { } failure)
                    {
                        Forget(a);
                        throw new EngineException($"The adapter '{a.Name}' could not be loaded: {failure.Message}", "model", failure);
                    }
                    if (a.IsReady) { found[i] = a; continue; }
                    waiting = true; // loading
                    continue;
                }
                waiting = true;
                StartLoad(wanted[i], keep: found.Where(f => f is not null).Select(f => f!)); // or waits for a free slot
            }
            if (waiting) return null;
            var adapters = found.Select(f => f!).ToArray();
            foreach (var a in adapters)
            {
                a.RefCount++;
                a.LastUsed = ++_clock;
            }
            return adapters;
        }
    }

    /// <summary>Loads now (the Load API and registration); completes when ready. Throws EngineOverloadedException without a free slot.</summary>
    public Task LoadAsync(AdapterSource source)
    {
        LoadedAdapter a;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_byVersion.TryGetValue(source.Version, out a!) || a.Failure is not null)
            {
                if (a is not null) Forget(a);
                a = StartLoad(source, keep: []) ?? throw new EngineOverloadedException(
                    $"All {_slots.Length} adapter slots hold pinned or in-use adapters; '{source.Name}' cannot be loaded now.");
            }
            a.LastUsed = ++_clock;
        }
        return a.Ready.Task;
    }

    public void Release(IEnumerable<LoadedAdapter> adapters)
    {
        lock (_gate)
        {
            foreach (var a in adapters)
            {
                a.RefCount--;
                if (a.RefCount == 0 && a.Draining is not null) FreeRetired(a);
            }
        }
    }

    /// <summary>Takes a version out of the resident set; the task completes when its last sequence released it.</summary>
    public Task Retire(string version)
    {
        lock (_gate)
        {
            if (!_byVersion.Remove(version, out var a)) return Task.CompletedTask;
            a.Draining = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            // Finished loading (or failed): judged by what Load sets under this lock, not by Ready, which it
            // completes after releasing it; a load still running frees the slot itself when it ends.
            if (a.RefCount == 0 && (a.IsReady || a.Failure is not null)) FreeRetired(a);
            else _draining.Add(a);
            return a.Draining.Task;
        }
    }

    /// <summary>Reserves a slot and starts loading into it; null when no slot can be had. Under the lock.</summary>
    private LoadedAdapter? StartLoad(AdapterSource source, IEnumerable<LoadedAdapter> keep)
    {
        var slot = FreeSlot(keep.ToHashSet());
        if (slot < 0) return null;
        var a = new LoadedAdapter(source.Name, source.Version, slot) { LastUsed = ++_clock, Pinned = source.Pinned };
        _slots[slot] = a;
        _byVersion[source.Version] = a;
        Meters?.AdapterLoadsStarted.Add(1);
        _ = Task.Run(() => Load(a, source.Path, source.Targets));
        return a;
    }

    /// <summary>
    /// An empty slot, else one whose load failed (nobody asked for it again), else the slot of the least recently
    /// used idle, unpinned, ready adapter; -1 when none.
    /// </summary>
    private int FreeSlot(HashSet<LoadedAdapter> keep)
    {
        for (var i = 0; i < _slots.Length; i++)
            if (_slots[i] is null) return i;
        var victim = _byVersion.Values.FirstOrDefault(a => a.Failure is not null) ?? _byVersion.Values
            .Where(a => a.IsReady && a.RefCount == 0 && !a.Pinned && !keep.Contains(a))
            .MinBy(a => a.LastUsed);
        if (victim is null) return -1;
        _byVersion.Remove(victim.Version);
        _slots[victim.Slot] = null;
        _logger.LogInformation("Adapter {Name} leaves slot {Slot} ({Why})", victim.Name, victim.Slot, victim.Failure is null ? "least recently used" : "its load failed");
        if (victim.Failure is null) Meters?.AdapterEvictions.Add(1);
        return victim.Slot;
    }

    private async Task Load(LoadedAdapter a, string path, IReadOnlyList<string> targets)
    {
        LlamaLoraAdapter? native = null;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var outcome = "error";
        try
        {
            var pool = Pool ?? throw new InvalidOperationException("The engine has not attached its adapter pool.");
            native = LlamaLoraAdapter.Load(_model, path);
            // Room for the weights it changes: a round trip to the scheduler (between two decodes) only when one of
            // them has none yet. SetSlot refuses, with llama.cpp's reason, anything the pool has no room for.
            bool prepare;
            lock (_gate)
            {
                prepare = !targets.All(_pooledTargets.Contains);
                if (prepare) TargetPreparations++;
            }
            if (prepare)
            {
                await (PrepareTargets ?? throw new InvalidOperationException("The engine has not attached its scheduler."))(native).ConfigureAwait(false);
                lock (_gate) _pooledTargets.UnionWith(targets);
            }
            pool.SetSlot(a.Slot, native);
            lock (_gate)
            {
                a.IsReady = true;
                if (a.Draining is not null && a.RefCount == 0) FreeRetired(a);
            }
            _logger.LogInformation("Adapter {Name} loaded into slot {Slot}", a.Name, a.Slot);
            outcome = "ok";
            a.Ready.TrySetResult();
        }
        catch (Exception e)
        {
            _logger.LogError("Adapter {Name} could not be loaded: {Reason}", a.Name, e.Message);
            lock (_gate)
            {
                a.Failure = e;
                if (a.Draining is not null) FreeRetired(a);
            }
            a.Ready.TrySetException(new EngineException($"The adapter '{a.Name}' could not be loaded: {e.Message}", "model", e));
        }
        finally
        {
            native?.Dispose(); // the pool holds a copy
            Meters?.AdapterLoadDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
            Meters?.AdapterLoads.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
            Wake?.Invoke();
        }
    }

    /// <summary>Drops a failed load so the next request tries again. Under the lock.</summary>
    private void Forget(LoadedAdapter a)
    {
        if (_byVersion.TryGetValue(a.Version, out var current) && ReferenceEquals(current, a)) _byVersion.Remove(a.Version);
        if (ReferenceEquals(_slots[a.Slot], a)) _slots[a.Slot] = null;
    }

    private void FreeRetired(LoadedAdapter a)
    {
        _draining.Remove(a);
        if (ReferenceEquals(_slots[a.Slot], a)) _slots[a.Slot] = null;
        a.Draining?.TrySetResult();
    }

    /// <summary>Marks the pinned flag of every resident version of a name.</summary>
    public void SetPinned(string version, bool pinned)
    {
        lock (_gate)
        {
            if (_byVersion.TryGetValue(version, out var a)) a.Pinned = pinned;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var a in _byVersion.Values.Concat(_draining)) a.Draining?.TrySetResult();
            _byVersion.Clear();
            _draining.Clear();
        }
    }
}

/// <summary>Where an adapter version's file is, for loading it, and the base weights it changes (its targets).</summary>
internal readonly record struct AdapterSource(string Name, string Version, string Path, bool Pinned, IReadOnlyList<string> Targets);
