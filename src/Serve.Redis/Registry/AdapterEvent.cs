namespace Serve.Redis.Registry;

/// <summary>What goes over the registry's pub/sub channel: Kind is "published" (Version is now current) or "unpublished".</summary>
public sealed record AdapterEvent(string Kind, string Name, string? Version);
