namespace Serve.Gateway.Routing;

/// <summary>
/// The request's routing key, read from the body by <see cref="RoutingKeyMiddleware"/>: the top-level "model", or,
/// when the body uses the "adapters" extension, its adapter set (names sorted and distinct), since those adapters
/// are what must be resident where the request runs.
/// </summary>
public sealed class RoutingKeyFeature
{
    public RoutingKeyFeature(string? model, IReadOnlyList<string>? adapters = null)
    {
        Model = model;
        Adapters = adapters is { Count: > 0 } ? [.. adapters.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)] : [];
        // Adapter names are [A-Za-z0-9._-], so '+' cannot occur in one: "a+b" names exactly the set {a, b}. A set of
        // one keys like model=that adapter, so both kinds of request for it share a home.
        Key = Adapters.Count > 0 ? string.Join('+', Adapters) : model;
    }

    /// <summary>The adapter (or base model) name; null when the request has none (GET /v1/models, bad bodies the replica rejects).</summary>
    public string? Model { get; }

    /// <summary>The adapters extension's names, sorted and distinct; empty when the request does not use it.</summary>
    public IReadOnlyList<string> Adapters { get; }

    /// <summary>What rendezvous hashing ranks replicas by: the adapter set when there is one, else the model.</summary>
    public string? Key { get; }
}
