using Microsoft.Extensions.DependencyInjection;

namespace Serve.Cluster;

public static class ClusterServiceCollectionExtensions
{
    /// <summary>
    /// Adds the replica heartbeat, bound to "Serve:Cluster". It does nothing unless Serve:Cluster:Redis is set,
    /// so a replica can always call this.
    /// </summary>
    public static IServiceCollection AddReplicaHeartbeat(this IServiceCollection services)
    {
        services.AddOptions<ClusterOptions>().BindConfiguration(ClusterOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ReplicaHeartbeatService>();
        services.AddHostedService(sp => sp.GetRequiredService<ReplicaHeartbeatService>());
        return services;
    }
}
