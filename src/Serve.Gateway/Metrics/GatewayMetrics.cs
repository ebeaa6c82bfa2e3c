using Microsoft.Extensions.DependencyInjection;
using Prometheus;
using Yarp.ReverseProxy;

namespace Serve.Gateway.Metrics;

/// <summary>
/// The gateway's Prometheus metrics, in a registry of their own (so several gateways in one test process do not
/// share counters) served on /metrics. Replica health is read from YARP's state at scrape time.
/// </summary>
public sealed class GatewayMetrics
{
    private readonly Counter _routed;
    private readonly Counter _retries;
    private readonly Counter _spills;
    private readonly Counter _errors;
    private readonly Gauge _hitRatio;
    private readonly Gauge _replicas;
    private readonly Gauge _discovered;
    private long _homes;
    private long _keyed;

    // YARP's state is looked up at scrape time, not injected: the config manager behind IProxyStateLookup depends on
    // the config filters, and the heartbeat filter depends (through discovery) on these metrics, a cycle that
    // deadlocks the container when taken at construction.
    public GatewayMetrics(IServiceProvider services)
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        _routed = factory.CreateCounter("serve_gateway_routed_total",
            "Requests sent to a replica. decision: home (the adapter's first-ranked replica), spill (moved down the ranking by the bounded-load rule), retry (resent after a connect failure), unkeyed (no model: least loaded).",
            "replica", "decision");
        _retries = factory.CreateCounter("serve_gateway_retries_total", "Requests resent to another replica because connecting to this one failed.", "replica");
        _spills = factory.CreateCounter("serve_gateway_spills_total", "Requests moved off their adapter's home replica because it was overloaded.", "home");
        _errors = factory.CreateCounter("serve_gateway_errors_total", "Errors the gateway answered itself (the replica's own errors pass through uncounted).", "status", "code");
        _hitRatio = factory.CreateGauge("serve_gateway_affinity_hit_ratio", "Share of requests with a model that went to their adapter's home replica, since start.");
        _replicas = factory.CreateGauge("serve_gateway_replicas", "Replicas known to the gateway, by state: available (routable now) and total.", "cluster", "state");
        _discovered = factory.CreateGauge("serve_gateway_discovered_replicas", "Replicas listed by live Redis heartbeats at the last read.");
        Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var cluster in services.GetRequiredService<IProxyStateLookup>().GetClusters())
            {
                _replicas.WithLabels(cluster.ClusterId, "total").Set(cluster.Destinations.Count);
                _replicas.WithLabels(cluster.ClusterId, "available").Set(cluster.DestinationsState?.AvailableDestinations.Count ?? 0);
            }
        });
    }

    public CollectorRegistry Registry { get; }

    public void Routed(string replica, string decision)
    {
        _routed.WithLabels(replica, decision).Inc();
        if (decision is RoutingDecisions.Home or RoutingDecisions.Spill)
        {
            var keyed = Interlocked.Increment(ref _keyed);
            var homes = decision == RoutingDecisions.Home ? Interlocked.Increment(ref _homes) : Interlocked.Read(ref _homes);
            _hitRatio.Set((double)homes / keyed);
        }
    }

    public void Spilled(string home) => _spills.WithLabels(home).Inc();

    public void Retried(string failedReplica) => _retries.WithLabels(failedReplica).Inc();

    public void Error(int status, string code) => _errors.WithLabels(status.ToString(System.Globalization.CultureInfo.InvariantCulture), code).Inc();

    public void Discovered(int count) => _discovered.Set(count);

    public double RoutedCount(string replica, string decision) => _routed.WithLabels(replica, decision).Value;

    public double RetryCount(string replica) => _retries.WithLabels(replica).Value;
}
