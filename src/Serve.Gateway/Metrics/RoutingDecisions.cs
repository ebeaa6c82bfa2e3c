namespace Serve.Gateway.Metrics;

/// <summary>Values of the "decision" label of serve_gateway_routed_total.</summary>
public static class RoutingDecisions
{
    public const string Home = "home";
    public const string Spill = "spill";
    public const string Retry = "retry";
    public const string Unkeyed = "unkeyed";
}
