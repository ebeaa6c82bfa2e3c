using System.ComponentModel.DataAnnotations;

namespace Serve.Server.Hosting;

/// <summary>
/// Where the state shared by replicas lives (section "Serve"): <c>Serve:Redis</c> (switch <c>--redis</c>, environment
/// <c>Serve__Redis</c>) is a StackExchange.Redis connection string. Unset, the server is one node with in-process
/// equivalents: a memory response cache, in-process rate limits and its own adapter catalog.
/// </summary>
public sealed class SharedStateOptions
{
    public const string Section = "Serve";

    /// <summary>e.g. "redis:6379" or "127.0.0.1:6379,password=..."; null = single node.</summary>
    public string? Redis { get; set; }

    /// <summary>Prefix of every key and channel this server uses in Redis (several deployments can share one Redis).</summary>
    [RegularExpression(@"^[A-Za-z0-9:._-]{1,64}$")]
    public string RedisKeyPrefix { get; set; } = "serve:";

    /// <summary>Largest adapter the shared registry stores (its GGUF bytes go into Redis).</summary>
    [Range(1024, long.MaxValue)]
    public long RegistryMaxBlobBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>How often a replica re-reads the whole registry (events lost while it was disconnected are caught up).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RegistryResyncInterval { get; set; } = TimeSpan.FromSeconds(30);
}
