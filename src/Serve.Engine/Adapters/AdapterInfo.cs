namespace Serve.Engine.Adapters;

/// <summary>
/// A registered adapter. Version is the SHA-256 of the GGUF file (hex, lowercase): immutable, so a republished
/// adapter has a new version and every cache keyed by it misses.
/// </summary>
public sealed record AdapterInfo(
    string Name,
    string Version,
    string Path,
    int Rank,
    float Alpha,
    string Architecture,
    string? BaseModelSha256,
    long SizeBytes,
    DateTimeOffset CreatedUtc,
    bool IsLoaded,
    bool IsPinned,
    int ActiveSequences,
    IReadOnlyDictionary<string, string> Metadata);
