using System.ComponentModel.DataAnnotations;
using Serve.Cluster;

namespace Serve.Gateway.Hosting;

/// <summary>The gateway's own settings (section "Gateway"). Routes, clusters and health checks are YARP's "ReverseProxy" section.</summary>
public sealed class GatewayOptions
{
    public const string Section = "Gateway";

    /// <summary>Largest request body the gateway buffers to read "model" (413 beyond); the replicas' default too.</summary>
    [Range(1024, 256L * 1024 * 1024)]
    public long MaxRequestBodyBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>StackExchange.Redis connection string for replica heartbeats; null = replicas only from configuration.</summary>
    public string? Redis { get; set; }

    /// <summary>Key prefix of the heartbeats; must match the replicas' Serve:Cluster:KeyPrefix.</summary>
    public string HeartbeatPrefix { get; set; } = ReplicaKeys.DefaultPrefix;

    /// <summary>The YARP cluster that replicas found in Redis join (it must exist in ReverseProxy:Clusters).</summary>
    [Required]
    public string ReplicaCluster { get; set; } = "replicas";

    /// <summary>How often the heartbeat list is read from Redis.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan DiscoveryInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Most attempts on different replicas when connecting fails (the first attempt included).</summary>
    [Range(1, 16)]
    public int MaxConnectAttempts { get; set; } = 3;

    [Required]
    public AffinityOptions Affinity { get; set; } = new();
}
