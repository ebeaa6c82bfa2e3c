namespace Serve.Gateway.Routing;

/// <summary>The request's routing key, read from the body's top-level "model" by <see cref="RoutingKeyMiddleware"/>.</summary>
public sealed class RoutingKeyFeature
{
    public RoutingKeyFeature(string? model) => Model = model;

    /// <summary>The adapter (or base model) name; null when the request has none (GET /v1/models, bad bodies the replica rejects).</summary>
    public string? Model { get; }
}
