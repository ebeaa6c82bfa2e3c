namespace Serve.Engine.Adapters;

/// <summary>Raised after the catalog changed: an adapter registered (or replaced by a new version), removed, loaded or unloaded.</summary>
public sealed record AdapterChange(AdapterChangeKind Kind, string Name, string? Version);

public enum AdapterChangeKind { Registered, Removed, Loaded, Unloaded }
