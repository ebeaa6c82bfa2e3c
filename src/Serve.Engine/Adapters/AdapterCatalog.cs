using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Serve.Llama;

namespace Serve.Engine.Adapters;

/// <summary>
/// The adapters the engine can serve: every &lt;name&gt;.gguf in the adapters directory, plus those registered at
/// run time (copied into the directory). Names: 1-64 chars of [A-Za-z0-9._-] starting with a letter or digit,
/// not the base model's name or "base". This class is the file store (scan, validation, atomic copy, names);
/// <see cref="AdapterSlots"/> is the resident cache: adapters load on first use into one of MaxLoadedAdapters slots
/// of the context's adapter pool (least recently used evicted first; pinned and in-use ones never), off the
/// scheduler thread. A version is the file's SHA-256: a new file under an existing name serves new requests at
/// once while running sequences finish on the old version, whose slot is freed after them. Thread-safe.
/// </summary>
public sealed partial class AdapterCatalog : IDisposable
{
    private readonly object _gate = new();
    private readonly LlamaModel _model;
    private readonly BaseModelShapes _base;
    private readonly string _baseName;
    private readonly int _maxRank;
    private readonly ILogger _logger;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private bool _disposed;

    internal AdapterCatalog(LlamaModel model, BaseModelShapes baseShapes, string baseName, string directory, int maxLoaded, int maxRank, ILogger logger)
    {
        _model = model;
        _base = baseShapes;
        _baseName = baseName;
        Directory = directory;
        _maxRank = maxRank;
        _logger = logger;
        Slots = new AdapterSlots(model, maxLoaded, logger);
        System.IO.Directory.CreateDirectory(directory);
    }

    /// <summary>The resident adapters (slots of the context's adapter pool).</summary>
    internal AdapterSlots Slots { get; }

    /// <summary>Where adapter files live.</summary>
    public string Directory { get; }

    /// <summary>Raised after the catalog changed (outside its lock).</summary>
    public event Action<AdapterChange>? Changed;

    /// <summary>Set by the engine: end the running sequences that use this version (AdapterUnloadMode.Abort).</summary>
    internal Action<string>? AbortSequences { get; set; }

    public IReadOnlyList<AdapterInfo> List()
    {
        lock (_gate) return [.. _entries.Values.OrderBy(e => e.Name, StringComparer.Ordinal).Select(ToInfo)];
    }

    public AdapterInfo? Find(string name)
    {
        lock (_gate) return _entries.TryGetValue(name, out var e) ? ToInfo(e) : null;
    }

    internal bool Contains(string name)
    {
        lock (_gate) return _entries.ContainsKey(name);
    }

    internal int LoadedCount => Slots.LoadedCount;

    /// <summary>
    /// Validates (GGUF parse, LoRA type, architecture, tensor shapes against the base, then llama.cpp's own load) and
    /// registers a file under name, copying it into the adapters directory atomically. A new version of an existing
    /// name replaces it for new requests; running sequences finish on the old one. Throws AdapterValidationException.
    /// </summary>
    public Task<AdapterInfo> RegisterAsync(string name, string sourcePath, bool load = true, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        CheckName(name);
        if (!File.Exists(sourcePath)) throw new AdapterValidationException($"No file at '{sourcePath}'.");
        return Task.Run(() =>
        {
            var temp = TempPath(name);
            try
            {
                File.Copy(sourcePath, temp, overwrite: true);
                return Install(name, temp, load, cancellationToken);
            }
            finally
            {
                File.Delete(temp);
            }
        }, cancellationToken);
    }

    /// <summary>As RegisterAsync(path), with the GGUF bytes from a stream (an upload).</summary>
    public async Task<AdapterInfo> RegisterAsync(string name, Stream content, bool load = true, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        CheckName(name);
        var temp = TempPath(name);
        try
        {
            await using (var file = File.Create(temp))
                await content.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
            return await Task.Run(() => Install(name, temp, load, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Loads into memory now (it otherwise loads on first use). Throws AdapterNotFoundException.</summary>
    public async Task<AdapterInfo> LoadAsync(string name, CancellationToken cancellationToken = default)
    {
        Entry entry;
        lock (_gate) entry = _entries.GetValueOrDefault(name) ?? throw new AdapterNotFoundException(name);
        await Slots.LoadAsync(Source(entry)).WaitAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate) return ToInfo(entry);
    }

    /// <summary>
    /// Frees the loaded adapter; it stays registered and loads again on its next use. Drain waits for the sequences
    /// using it (new requests get a fresh copy); Abort ends them with AdapterUnloadedException first.
    /// </summary>
    public async Task UnloadAsync(string name, AdapterUnloadMode mode = AdapterUnloadMode.Drain, CancellationToken cancellationToken = default)
    {
        Task drained;
        string version;
        lock (_gate)
        {
            var entry = _entries.GetValueOrDefault(name) ?? throw new AdapterNotFoundException(name);
            version = entry.File.Version;
            drained = Slots.Retire(version);
        }
        await Finish(name, version, drained, mode, AdapterChangeKind.Unloaded, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Unregisters the adapter and deletes its file (after draining or aborting its sequences); false if unknown.</summary>
    public async Task<bool> RemoveAsync(string name, AdapterUnloadMode mode = AdapterUnloadMode.Drain, CancellationToken cancellationToken = default)
    {
        Task drained;
        string version;
        lock (_gate)
        {
            if (!_entries.Remove(name, out var entry)) return false;
            version = entry.File.Version;
            drained = Slots.Retire(version);
            TryDelete(entry.Path);
        }
        await Finish(name, version, drained, mode, AdapterChangeKind.Removed, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>A pinned adapter is never evicted by the LRU. Throws AdapterNotFoundException.</summary>
    public void SetPinned(string name, bool pinned)
    {
        lock (_gate)
        {
            var entry = _entries.GetValueOrDefault(name) ?? throw new AdapterNotFoundException(name);
            entry.Pinned = pinned;
            Slots.SetPinned(entry.File.Version, pinned);
        }
    }

    /// <summary>Picks up files added to, changed in or removed from the directory by hand. Bad files are logged and skipped.</summary>
    public void Rescan()
    {
        var changes = new List<AdapterChange>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in System.IO.Directory.EnumerateFiles(Directory, "*.gguf"))
        {
            var name = Path.GetFileNameWithoutExtension(path);
            if (!IsValidName(name)) continue; // hidden temp files and foreign names
            seen.Add(name);
            var stamp = File.GetLastWriteTimeUtc(path);
            var length = new FileInfo(path).Length;
            lock (_gate)
            {
                if (_entries.TryGetValue(name, out var known) && known.Stamp == stamp && known.File.SizeBytes == length) continue;
            }
            try
            {
                var file = AdapterFile.Inspect(path, _base);
                lock (_gate)
                {
                    if (_entries.TryGetValue(name, out var old))
                    {
                        if (old.File.Version == file.Version) { old.Stamp = stamp; continue; }
                        _ = Slots.Retire(old.File.Version);
                    }
                    _entries[name] = new Entry(name, path, file, stamp, new DateTimeOffset(stamp, TimeSpan.Zero));
                }
                changes.Add(new AdapterChange(AdapterChangeKind.Registered, name, file.Version));
            }
            catch (Exception e) when (e is AdapterValidationException or IOException)
            {
                _logger.LogWarning("Adapter file {Path} is not servable and was skipped: {Reason}", path, e.Message);
            }
        }
        lock (_gate)
        {
            foreach (var gone in _entries.Keys.Where(n => !seen.Contains(n)).ToList())
            {
                var entry = _entries[gone];
                _entries.Remove(gone);
                _ = Slots.Retire(entry.File.Version);
                changes.Add(new AdapterChange(AdapterChangeKind.Removed, gone, entry.File.Version));
            }
        }
        foreach (var change in changes) Raise(change);
    }

    /// <summary>
    /// Takes a reference on each adapter (loading it if needed) for one sequence. Returns null when it must wait:
    /// every adapter slot holds a pinned or in-use adapter. Throws AdapterNotFoundException when a name is gone and
    /// EngineException when llama.cpp refuses the file.
    /// </summary>
    internal AdapterLease? TryAcquire(IReadOnlyList<AdapterWeight> weights)
    {
        if (weights.Count == 0) return AdapterLease.None;
        AdapterSource[] sources;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            sources = [.. weights.Select(w => Source(_entries.GetValueOrDefault(w.Name) ?? throw new AdapterNotFoundException(w.Name)))];
        }
        var adapters = Slots.TryAcquire(sources);
        if (adapters is null) return null;
        var order = Enumerable.Range(0, weights.Count).OrderBy(i => weights[i].Name, StringComparer.Ordinal).ToArray();
        var configuration = AdapterConfiguration.From(weights, i => adapters[i].Version);
        return new AdapterLease(Slots, configuration, adapters, [.. order.Select(i => new LlamaAdapterSlot(adapters[i].Slot, weights[i].Scale))]);
    }

    private static AdapterSource Source(Entry e) => new(e.Name, e.File.Version, e.Path, e.Pinned, e.File.Targets);

    /// <summary>Whether name is a valid adapter name (1-64 chars of [A-Za-z0-9._-], starting with a letter or digit).</summary>
    public static bool IsValidName(string name) => NamePattern().IsMatch(name);

    private void CheckName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!IsValidName(name))
            throw new AdapterValidationException($"'{name}' is not a valid adapter name: use 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit.");
        if (name == "base" || name == _baseName)
            throw new AdapterValidationException($"'{name}' is the base model's name.");
    }

    private string TempPath(string name) => Path.Combine(Directory, $".{name}.{Guid.NewGuid():N}.tmp");

    private AdapterInfo Install(string name, string temp, bool load, CancellationToken cancellationToken)
    {
        var file = AdapterFile.Inspect(temp, _base);
        CheckServable(file);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            LlamaLoraAdapter.Load(_model, temp).Dispose(); // llama.cpp's own checks; slots load from the installed file
        }
        catch (LlamaException e)
        {
            throw new AdapterValidationException($"llama.cpp refused the adapter: {e.Message}", e);
        }
        var path = Path.Combine(Directory, name + ".gguf");
        AdapterInfo info;
        Entry installed;
        lock (_gate)
        {
            if (_disposed) throw new ObjectDisposedException(nameof(AdapterCatalog));
            File.Copy(temp, path + ".swap", overwrite: true);
            File.Move(path + ".swap", path, overwrite: true);
            if (_entries.TryGetValue(name, out var old) && old.File.Version != file.Version) _ = Slots.Retire(old.File.Version);
            var stamp = File.GetLastWriteTimeUtc(path);
            var entry = new Entry(name, path, file, stamp, DateTimeOffset.UtcNow) { Pinned = old?.Pinned ?? false };
            _entries[name] = entry;
            installed = entry;
        }
        if (load)
        {
            // Into a slot now when one is free or can be freed; otherwise it loads on first use.
            try
            {
                Slots.LoadAsync(Source(installed)).Wait(cancellationToken); // Install already runs on a worker
            }
            catch (EngineOverloadedException)
            {
                _logger.LogInformation("Adapter {Name} registered; every slot is in use, so it loads on first use", name);
            }
            catch (AggregateException e) when (e.InnerException is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw(); // the load's own EngineException
            }
        }
        lock (_gate) info = ToInfo(installed);
        _logger.LogInformation("Adapter {Name} registered: version {Version}, rank {Rank}, alpha {Alpha}", name, file.Version[..12], file.Rank, file.Alpha);
        Raise(new AdapterChange(AdapterChangeKind.Registered, name, file.Version));
        return info;
    }

    /// <summary>Refuses an adapter the adapter pool cannot hold: rank above MaxAdapterRank, or LoRA on the token embedding.</summary>
    private void CheckServable(AdapterFile file)
    {
        if (file.Rank > _maxRank)
            throw new AdapterValidationException($"The adapter has rank {file.Rank}; this server holds ranks up to {_maxRank} (MaxAdapterRank).");
        if (file.Targets.Any(t => t.StartsWith("token_embd", StringComparison.Ordinal)))
            throw new AdapterValidationException("The adapter changes token_embd; per-token adapters apply to weight products only (drop the embedding from the adapter's targets).");
    }

    private async Task Finish(string name, string version, Task drained, AdapterUnloadMode mode, AdapterChangeKind kind, CancellationToken cancellationToken)
    {
        if (mode == AdapterUnloadMode.Abort && !drained.IsCompleted) AbortSequences?.Invoke(version);
        await drained.WaitAsync(cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("Adapter {Name} {Kind}", name, kind == AdapterChangeKind.Removed ? "removed" : "unloaded");
        Raise(new AdapterChange(kind, name, version));
    }

    private void Raise(AdapterChange change)
    {
        try
        {
            Changed?.Invoke(change);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "An AdapterCatalog.Changed handler failed");
        }
    }

    private AdapterInfo ToInfo(Entry e) =>
        new(e.Name, e.File.Version, e.Path, e.File.Rank, e.File.Alpha, e.File.Architecture, e.File.BaseModelSha256,
            e.File.SizeBytes, e.Created, Slots.IsLoaded(e.File.Version), e.Pinned, Slots.ActiveCount(e.Name), e.File.Metadata);

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException e)
        {
            _logger.LogWarning("Could not delete {Path}: {Reason}", path, e.Message);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
        }
        Slots.Dispose();
    }

    // \A and \z: "$" also matches before a final "\n", which let "nl\n" through as a name (and a file "nl\n.gguf").
    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex NamePattern();

    private sealed class Entry(string name, string path, AdapterFile file, DateTime stamp, DateTimeOffset created)
    {
        public string Name { get; } = name;
        public string Path { get; } = path;
        public AdapterFile File { get; } = file;
        public DateTime Stamp { get; set; } = stamp;
        public DateTimeOffset Created { get; } = created;
        public bool Pinned { get; set; }
    }
}
