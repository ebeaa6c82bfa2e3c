using System.Security.Cryptography;
using System.Text.Json;
using StackExchange.Redis;

namespace Serve.Redis.Registry;

/// <summary>
/// The shared adapter registry. Layout (all keys under the store's prefix, "serve:" by default):
/// <list type="bullet">
/// <item><c>adapters</c>: set of published names;</item>
/// <item><c>adapter:&lt;name&gt;:versions</c>: hash version -> AdapterRecord JSON;</item>
/// <item><c>adapter:&lt;name&gt;:current</c>: the version serving now;</item>
/// <item><c>adapter:&lt;name&gt;:history</c>: list of versions made current, newest first (rollback pops it);</item>
/// <item><c>adapter-blob:&lt;version&gt;</c>: the GGUF bytes (replicas need no shared filesystem; capped by MaxBlobBytes);</item>
/// <item>channel <c>adapter-events</c>: AdapterEvent JSON after every change.</item>
/// </list>
/// Blobs are verified against their version (SHA-256) when fetched; a mismatch is refused.
/// </summary>
public sealed class RedisAdapterRegistry(RedisStore store, long maxBlobBytes = 256L * 1024 * 1024)
{
    public const string EventsChannel = "adapter-events";

    public long MaxBlobBytes { get; } = maxBlobBytes;

    /// <summary>
    /// Stores the bytes and record of a version and makes it current, then announces it. The adapter should have been
    /// validated (a replica's catalog does that) before publishing.
    /// </summary>
    public async Task<AdapterRecord> PublishAsync(AdapterPublication adapter, byte[] content)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        if (content.LongLength > MaxBlobBytes)
            throw new InvalidOperationException($"The adapter is {content.LongLength} bytes; the registry stores at most {MaxBlobBytes} (MaxBlobBytes).");
        var version = Convert.ToHexStringLower(SHA256.HashData(content));
        if (version != adapter.Version) throw new ArgumentException("The content does not match the adapter's version.", nameof(content));
        var record = new AdapterRecord(adapter.Name, version, adapter.BaseModelSha256, adapter.Rank, adapter.Alpha, content.LongLength, DateTimeOffset.UtcNow, "redis");
        var db = store.Database;
        var transaction = db.CreateTransaction();
        _ = transaction.StringSetAsync(store.Key("adapter-blob:" + version), content);
        _ = transaction.HashSetAsync(store.Key($"adapter:{adapter.Name}:versions"), version, JsonSerializer.Serialize(record, RegistryJson.Default.AdapterRecord));
        _ = transaction.StringSetAsync(store.Key($"adapter:{adapter.Name}:current"), version);
        _ = transaction.ListLeftPushAsync(store.Key($"adapter:{adapter.Name}:history"), version);
        _ = transaction.SetAddAsync(store.Key("adapters"), adapter.Name);
        if (!await transaction.ExecuteAsync().ConfigureAwait(false)) throw new RedisException("The publish transaction was not applied.");
        await AnnounceAsync(new AdapterEvent("published", adapter.Name, version)).ConfigureAwait(false);
        return record;
    }

    /// <summary>Makes the previously current version current again; false when there is none.</summary>
    public async Task<AdapterRecord?> RollbackAsync(string name)
    {
        var db = store.Database;
        var history = store.Key($"adapter:{name}:history");
        var versions = await db.ListRangeAsync(history, 0, 1).ConfigureAwait(false);
        if (versions.Length < 2) return null;
        var previous = (string)versions[1]!;
        var record = await GetRecordAsync(name, previous).ConfigureAwait(false)
            ?? throw new RegistryDataException($"Version {previous} of '{name}' is in its history but has no record.");
        var transaction = db.CreateTransaction();
        _ = transaction.ListLeftPopAsync(history);
        _ = transaction.StringSetAsync(store.Key($"adapter:{name}:current"), previous);
        _ = transaction.SetAddAsync(store.Key("adapters"), name);
        if (!await transaction.ExecuteAsync().ConfigureAwait(false)) throw new RedisException("The rollback transaction was not applied.");
        await AnnounceAsync(new AdapterEvent("published", name, previous)).ConfigureAwait(false);
        return record;
    }

    /// <summary>Stops serving the name everywhere (versions and blobs stay for a later rollback or republish).</summary>
    public async Task UnpublishAsync(string name)
    {
        var db = store.Database;
        var transaction = db.CreateTransaction();
        _ = transaction.SetRemoveAsync(store.Key("adapters"), name);
        _ = transaction.KeyDeleteAsync(store.Key($"adapter:{name}:current"));
        await transaction.ExecuteAsync().ConfigureAwait(false);
        await AnnounceAsync(new AdapterEvent("unpublished", name, null)).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<string>> ListNamesAsync() =>
        [.. (await store.Database.SetMembersAsync(store.Key("adapters")).ConfigureAwait(false)).Select(v => (string)v!).Order(StringComparer.Ordinal)];

    /// <summary>The current record of a name; null when unpublished. Throws RegistryDataException for garbage.</summary>
    public async Task<AdapterRecord?> GetCurrentAsync(string name)
    {
        var db = store.Database;
        RedisValue version;
        try
        {
            version = await db.StringGetAsync(store.Key($"adapter:{name}:current")).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
        {
            throw new RegistryDataException($"adapter:{name}:current is not a string: {e.Message}");
        }
        if (version.IsNull) return null;
        return await GetRecordAsync(name, version!).ConfigureAwait(false)
            ?? throw new RegistryDataException($"'{name}' points at version {Short(version!)} which has no record.");
    }

    public async Task<IReadOnlyList<AdapterRecord>> GetVersionsAsync(string name)
    {
        var entries = await store.Database.HashGetAllAsync(store.Key($"adapter:{name}:versions")).ConfigureAwait(false);
        return [.. entries.Select(e => Parse(name, e.Value)).OrderBy(r => r.CreatedUtc)];
    }

    /// <summary>The bytes of a version, checked against its hash. Throws RegistryDataException when missing or altered.</summary>
    public async Task<byte[]> FetchAsync(AdapterRecord record)
    {
        if (record.Location != "redis") throw new RegistryDataException($"Version {Short(record.Version)} of '{record.Name}' is stored at '{record.Location}', which this replica cannot read.");
        var value = await store.Database.StringGetAsync(store.Key("adapter-blob:" + record.Version)).ConfigureAwait(false);
        if (value.IsNull) throw new RegistryDataException($"The blob of '{record.Name}' version {Short(record.Version)} is missing.");
        var bytes = (byte[])value!;
        var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (actual != record.Version)
            throw new RegistryDataException($"The blob of '{record.Name}' version {Short(record.Version)} hashes to {Short(actual)}: refused.");
        return bytes;
    }

    private async Task<AdapterRecord?> GetRecordAsync(string name, string version)
    {
        var json = await store.Database.HashGetAsync(store.Key($"adapter:{name}:versions"), version).ConfigureAwait(false);
        return json.IsNull ? null : Parse(name, json);
    }

    private static AdapterRecord Parse(string name, RedisValue json)
    {
        try
        {
            var record = JsonSerializer.Deserialize((string)json!, RegistryJson.Default.AdapterRecord);
            if (record is null || record.Name != name || record.Version is not { Length: 64 })
                throw new RegistryDataException($"A version record of '{name}' is not valid: {Truncate(json!)}");
            return record;
        }
        catch (JsonException e)
        {
            throw new RegistryDataException($"A version record of '{name}' is not JSON ({e.Message}): {Truncate(json!)}");
        }
    }

    private Task AnnounceAsync(AdapterEvent e) =>
        store.Connection.GetSubscriber().PublishAsync(store.Channel(EventsChannel), JsonSerializer.Serialize(e, RegistryJson.Default.AdapterEvent));

    public static string Short(string version) => version.Length > 12 ? version[..12] : version;
    private static string Truncate(string s) => s.Length > 80 ? s[..80] + "..." : s;
}
