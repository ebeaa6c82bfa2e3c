using Serve.Gateway.LoadBalancing;
using Serve.Gateway.Metrics;
using Serve.Gateway.Routing;
using Yarp.ReverseProxy.Model;

namespace Serve.Gateway.Forwarding;

/// <summary>
/// Runs right after YARP's load balancing: counts where each attempt went and why (home, spill, retry, unkeyed).
/// YARP calls the policy only when more than one replica is available, so a lone replica counts as home.
/// </summary>
internal sealed class RoutingObserverMiddleware
{
    private readonly RequestDelegate _next;
    private readonly GatewayMetrics _metrics;

    public RoutingObserverMiddleware(RequestDelegate next, GatewayMetrics metrics)
    {
        _next = next;
        _metrics = metrics;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var chosen = context.GetReverseProxyFeature().AvailableDestinations;
        if (chosen.Count == 1)
        {
            var replica = chosen[0].DestinationId;
            var decision = context.Features.Get<AffinityDecision>();
            if (context.Features.Get<ForwardAttempt>() is { Number: > 0 })
            {
                _metrics.Routed(replica, RoutingDecisions.Retry);
            }
            else if (decision is { Spilled: true })
            {
                _metrics.Routed(replica, RoutingDecisions.Spill);
                _metrics.Spilled(decision.Home);
            }
            else
            {
                var keyed = decision?.Model ?? context.Features.Get<RoutingKeyFeature>()?.Key;
                _metrics.Routed(replica, keyed is null ? RoutingDecisions.Unkeyed : RoutingDecisions.Home);
            }
        }
        context.Features.Set<AffinityDecision>(null);
        return _next(context);
    }
}
