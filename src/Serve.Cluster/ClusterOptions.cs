using System.ComponentModel.DataAnnotations;

namespace Serve.Cluster;

/// <summary>
/// A replica's self-registration settings (section "Serve:Cluster"; environment <c>Serve__Cluster__Redis</c> etc.).
/// Without <see cref="Redis"/> the replica does not register and the gateway must list it in its own configuration.
/// </summary>
public sealed class ClusterOptions
{
    public const string Section = "Serve:Cluster";

    /// <summary>StackExchange.Redis connection string, e.g. "redis:6379"; null = no heartbeat.</summary>
    public string? Redis { get; set; }

    /// <summary>Key prefix shared with the gateway's Gateway:HeartbeatPrefix.</summary>
    public string KeyPrefix { get; set; } = ReplicaKeys.DefaultPrefix;

    /// <summary>Stable replica id (pod name, compose service name); null = host name plus port.</summary>
    public string? ReplicaId { get; set; }

    /// <summary>The URL the gateway should call (e.g. http://10.0.0.5:8080); null = the first address Kestrel listens on.</summary>
    public string? AdvertisedUrl { get; set; }

    /// <summary>Time between beats.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How long one beat keeps the replica listed; a few intervals, so one slow beat does not drop it.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan HeartbeatTtl { get; set; } = TimeSpan.FromSeconds(10);
}
