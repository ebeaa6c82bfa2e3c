using System.CommandLine;
using Serve.Cli.Publishing;

namespace Serve.Cli.Commands;

/// <summary>
/// Where a published version goes besides the file registry: the running replicas (admin API) and, when given, the
/// Redis registry. Shared by <c>serve publish</c> and <c>serve rollback</c>.
/// </summary>
internal sealed class ReplicaOptionSet
{
    /// <summary>Where <c>dotnet run --project src/Serve.Server</c> listens when nothing else is configured (Kestrel's default).</summary>
    public const string DefaultServer = "http://127.0.0.1:8080";

    public Option<string[]> Servers { get; } = new("--server")
    {
        Description = $"A running replica to load the version (repeatable; default {DefaultServer}). The first one answers the live request",
        AllowMultipleArgumentsPerToken = false,
    };
    public Option<bool> NoServer { get; } = new("--no-server") { Description = "Publish to the registry only: tell no replica, send no live request" };
    public Option<string> AdminKey { get; } = new("--admin-key") { Description = "The replicas' admin key (default: $SERVE_ADMIN_KEY; none needed from loopback when they have none)" };
    public Option<string> ApiKey { get; } = new("--api-key") { Description = "API key for the live /v1 request (default: $SERVE_API_KEY)" };
    public Option<string> Redis { get; } = new("--redis") { Description = "Also publish to the Redis registry at this connection string (blob + event), e.g. 127.0.0.1:6379" };
    public Option<int> Timeout { get; } = new("--server-timeout") { Description = "Seconds to wait for each replica's answer", DefaultValueFactory = _ => 60 };

    public IEnumerable<Option> All => [Servers, NoServer, AdminKey, ApiKey, Redis, Timeout];

    public IReadOnlyList<Uri> ServerList(ParseResult p) =>
        p.GetValue(NoServer) ? [] : [.. (p.GetValue(Servers) is { Length: > 0 } given ? given : [DefaultServer]).Select(ReplicaClient.ParseServer)];

    public ReplicaClient Client(ParseResult p, Uri server) => new(server,
        p.GetValue(AdminKey) ?? Environment.GetEnvironmentVariable("SERVE_ADMIN_KEY"),
        p.GetValue(ApiKey) ?? Environment.GetEnvironmentVariable("SERVE_API_KEY"),
        TimeSpan.FromSeconds(Math.Max(1, p.GetValue(Timeout))));

    /// <summary>
    /// Before any work: asks each replica which base model it serves. An unreachable one is a warning (it may be
    /// up by the time the version is ready); one serving another base is an error, since it would refuse the adapter.
    /// </summary>
    public async Task<bool> PreflightAsync(ParseResult p, string baseSha256, TextWriter o, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(o);
        var ok = true;
        foreach (var server in ServerList(p))
        {
            using var client = Client(p, server);
            var (replicaBase, error) = await client.BaseModelAsync(cancellationToken).ConfigureAwait(false);
            if (error is not null) o.WriteLine($"  WARNING replica {server}: {error}");
            else if (replicaBase is not null && !string.Equals(replicaBase, baseSha256, StringComparison.OrdinalIgnoreCase))
            {
                o.WriteLine($"  replica {server} serves base model {replicaBase[..12]}, not {baseSha256[..12]}: it would refuse this adapter");
                ok = false;
            }
            else o.WriteLine($"  replica {server}: up, same base model");
        }
        return ok;
    }

    /// <summary>
    /// Tells every replica (and Redis) to serve the version; prints one line per target. False when any did not
    /// take it (unreachable, refused): those keep serving what they had.
    /// </summary>
    public async Task<bool> DistributeAsync(ParseResult p, string name, string path, AdapterVersion version, TextWriter o, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(o);
        var ok = true;
        var servers = ServerList(p);
        if (servers.Count == 0 && p.GetValue(Redis) is null) o.WriteLine("      no replica to tell (--no-server)");
        foreach (var server in servers)
        {
            using var client = Client(p, server);
            var outcome = await client.LoadAsync(name, path, version.Sha256, version.BaseSha256, cancellationToken).ConfigureAwait(false);
            o.WriteLine(outcome.Loaded ? $"      {server}: {outcome.Message}, version {version.Version}"
                : $"      WARNING {server}: {outcome.Message}; it keeps serving its previous version of '{name}'");
            ok &= outcome.Loaded;
        }
        if (p.GetValue(Redis) is { } redis)
        {
            try
            {
                var published = await RedisPublisher.PublishAsync(redis, name, path, version, TimeSpan.FromSeconds(Math.Max(1, p.GetValue(Timeout))))
                    .ConfigureAwait(false);
                o.WriteLine($"      redis {redis}: current version of '{name}' is {published[..AdapterFileRegistry.VersionLength]} (event sent to syncing replicas)");
            }
            catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException or InvalidOperationException)
            {
                o.WriteLine($"      WARNING redis {redis}: not published ({e.Message}); replicas syncing from it keep their previous version");
                ok = false;
            }
        }
        return ok;
    }
}
