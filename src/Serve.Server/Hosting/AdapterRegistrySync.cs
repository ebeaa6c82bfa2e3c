using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Serve.Engine;
using Serve.Engine.Adapters;
using Serve.Redis;
using Serve.Redis.Registry;
using StackExchange.Redis;

namespace Serve.Server.Hosting;

/// <summary>
/// Keeps a replica's adapter catalog in step with the shared registry: it applies every publish/unpublish event
/// as it arrives, catches up on start (a replica that was down loads what was published meanwhile), and resyncs
/// periodically and whenever the Redis connection comes back (events sent during an outage are lost by pub/sub).
/// Bad registry data (garbage records, missing blobs, hash mismatches, adapters the engine refuses) is logged
/// with the reason and skipped; the replica keeps serving what it has. Server glue: it joins the engine's catalog to
/// Serve.Redis's registry, so it lives here and Serve.Redis needs no engine.
/// </summary>
internal sealed class AdapterRegistrySync : IAsyncDisposable
{
    private readonly RedisStore _store;
    private readonly RedisAdapterRegistry _registry;
    private readonly InferenceEngine _engine;
    private readonly ILogger _logger;
    private readonly Channel<string?> _work = Channel.CreateUnbounded<string?>(new UnboundedChannelOptions { SingleReader = true });
    private readonly HashSet<string> _managed = new(StringComparer.Ordinal); // names this sync installed
    private readonly Dictionary<string, string> _rejected = new(StringComparer.Ordinal); // name -> reason last logged
    private readonly CancellationTokenSource _stop = new();
    private readonly TimeSpan _resyncInterval;
    private Task? _loop;
    private Timer? _timer;

    public AdapterRegistrySync(RedisStore store, RedisAdapterRegistry registry, InferenceEngine engine, ILogger<AdapterRegistrySync> logger, TimeSpan? resyncInterval = null)
    {
        _store = store;
        _registry = registry;
        _engine = engine;
        _logger = logger;
        _resyncInterval = resyncInterval ?? TimeSpan.FromSeconds(30);
    }

    /// <summary>Raised after an adapter was installed, replaced or removed from the registry (tests, metrics).</summary>
    public event Action<AdapterEvent>? Applied;

    /// <summary>Subscribes, queues a full catch-up and starts applying. Does not wait for Redis.</summary>
    public async Task StartAsync()
    {
        _loop = Task.Run(RunAsync);
        try
        {
            await _store.Connection.GetSubscriber().SubscribeAsync(_store.Channel(RedisAdapterRegistry.EventsChannel), (_, message) => OnEvent(message)).ConfigureAwait(false);
        }
        catch (RedisException e)
        {
            _logger.LogWarning("Could not subscribe to adapter events yet ({Reason}); relying on resyncs until Redis answers", e.Message);
        }
        _store.Connection.ConnectionRestored += (_, _) => _work.Writer.TryWrite(null);
        _timer = new Timer(_ => _work.Writer.TryWrite(null), null, _resyncInterval, _resyncInterval);
        _work.Writer.TryWrite(null); // null = catch up on everything
    }

    /// <summary>Publishes a locally registered adapter (its file) to the registry so every replica loads it.</summary>
    public async Task<AdapterRecord> PublishAsync(string name)
    {
        var info = _engine.Adapters.Find(name) ?? throw new AdapterNotFoundException(name);
        var bytes = await File.ReadAllBytesAsync(info.Path).ConfigureAwait(false);
        lock (_managed) _managed.Add(name);
        return await _registry.PublishAsync(new AdapterPublication(info.Name, info.Version, info.BaseModelSha256, info.Rank, info.Alpha), bytes).ConfigureAwait(false);
    }

    private void OnEvent(RedisValue message)
    {
        try
        {
            var e = AdapterEvent.Parse((string)message!);
            if (e?.Name is not { } name || !AdapterCatalog.IsValidName(name)) throw new JsonException("not an adapter event");
            _work.Writer.TryWrite(name);
        }
        catch (JsonException)
        {
            _logger.LogWarning("Ignored a malformed adapter event: {Message}", Truncate(message!));
        }
    }

    private async Task RunAsync()
    {
        await foreach (var name in _work.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
        {
            try
            {
                if (name is null) await CatchUpAsync().ConfigureAwait(false);
                else await ApplyAsync(name).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                _logger.LogDebug("Registry sync postponed, Redis unavailable: {Reason}", e.Message);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _logger.LogError(e, "Registry sync failed for {Name}", name ?? "(catch-up)");
            }
        }
    }

    private async Task CatchUpAsync()
    {
        if (!_store.Connection.IsConnected) return;
        IReadOnlyList<string> names;
        try
        {
            names = await _registry.ListNamesAsync().ConfigureAwait(false);
        }
        catch (RedisServerException e)
        {
            _logger.LogError("The registry's name set is unreadable: {Reason}", e.Message);
            return;
        }
        string[] managed;
        lock (_managed) managed = [.. _managed];
        foreach (var name in names.Union(managed, StringComparer.Ordinal))
        {
            if (!AdapterCatalog.IsValidName(name))
            {
                if (FirstRejection(name, "invalid name")) _logger.LogWarning("Skipped registry entry with an invalid adapter name: {Name}", Truncate(name));
                continue;
            }
            await ApplyAsync(name).ConfigureAwait(false);
        }
    }

    private async Task ApplyAsync(string name)
    {
        AdapterRecord? record;
        try
        {
            record = await _registry.GetCurrentAsync(name).ConfigureAwait(false);
        }
        catch (RegistryDataException e)
        {
            if (FirstRejection(name, e.Message)) _logger.LogError("Registry entry for {Name} rejected: {Reason}", name, e.Message);
            return;
        }
        var local = _engine.Adapters.Find(name);
        if (record is null)
        {
            Accepted(name);
            bool managed;
            lock (_managed) managed = _managed.Remove(name);
            if (managed && local is not null)
            {
                await _engine.Adapters.RemoveAsync(name, AdapterUnloadMode.Drain).ConfigureAwait(false);
                _logger.LogInformation("Adapter {Name} unpublished: removed", name);
                Applied?.Invoke(new AdapterEvent("unpublished", name, null));
            }
            return;
        }
        if (local?.Version == record.Version)
        {
            lock (_managed) _managed.Add(name);
            return;
        }
        byte[] bytes;
        try
        {
            bytes = await _registry.FetchAsync(record).ConfigureAwait(false);
        }
        catch (RegistryDataException e)
        {
            if (FirstRejection(name, e.Message))
                _logger.LogError("Adapter {Name} version {Version} not installed: {Reason}", name, RedisAdapterRegistry.Short(record.Version), e.Message);
            return;
        }
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            await _engine.Adapters.RegisterAsync(name, stream).ConfigureAwait(false);
        }
        catch (AdapterValidationException e)
        {
            if (FirstRejection(name, e.Message))
                _logger.LogError("Adapter {Name} version {Version} from the registry was refused: {Reason}", name, RedisAdapterRegistry.Short(record.Version), e.Message);
            return;
        }
        lock (_managed) _managed.Add(name);
        Accepted(name);
        _logger.LogInformation("Adapter {Name} version {Version} installed from the registry", name, RedisAdapterRegistry.Short(record.Version));
        Applied?.Invoke(new AdapterEvent("published", name, record.Version));
    }

    /// <summary>
    /// True the first time a name is refused for this reason: periodic resyncs meet the same bad entry again and again,
    /// and one error line per problem is what an operator needs (repeats go to debug).
    /// </summary>
    private bool FirstRejection(string name, string reason)
    {
        lock (_rejected)
        {
            if (_rejected.TryGetValue(name, out var last) && last == reason)
            {
                _logger.LogDebug("Registry entry for {Name} still rejected: {Reason}", name, reason);
                return false;
            }
            _rejected[name] = reason;
            return true;
        }
    }

    private void Accepted(string name)
    {
        lock (_rejected) _rejected.Remove(name);
    }

    private static string Truncate(string s) => s.Length > 80 ? s[..80] + "..." : s;

    public async ValueTask DisposeAsync()
    {
        _timer?.Dispose();
        _work.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        _stop.Dispose();
    }
}
