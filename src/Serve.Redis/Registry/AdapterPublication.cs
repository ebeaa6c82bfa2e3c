namespace Serve.Redis.Registry;

/// <summary>
/// What the registry needs to know of an adapter it publishes (the catalog's description of it): its name, the
/// SHA-256 of its bytes (its version), the base model it was made for, and its shape.
/// </summary>
public sealed record AdapterPublication(string Name, string Version, string? BaseModelSha256, int Rank, float Alpha);
