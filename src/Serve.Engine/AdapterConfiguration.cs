namespace Serve.Engine;

/// <summary>
/// The adapters a sequence is computed with: (adapter name, immutable version, scale), in a canonical order.
/// Two requests share KV (prefix cache) or a decode only when their configurations are equal; Key is the
/// stable string form used for that and for cache keys outside the engine.
/// </summary>
public sealed record AdapterConfiguration(IReadOnlyList<AdapterConfigurationEntry> Entries)
{
    public static AdapterConfiguration None { get; } = new([]);

    public bool IsBase => Entries.Count == 0;

    /// <summary>
    /// The one place a configuration is built from request weights: each weight with its adapter's version (version(i)
    /// for weights[i]), sorted by name, so the engine's lease and the response cache name the same computation alike.
    /// </summary>
    public static AdapterConfiguration From(IReadOnlyList<AdapterWeight> weights, Func<int, string> version)
    {
        if (weights.Count == 0) return None;
        var order = Enumerable.Range(0, weights.Count).OrderBy(i => weights[i].Name, StringComparer.Ordinal);
        return new([.. order.Select(i => new AdapterConfigurationEntry(weights[i].Name, version(i), weights[i].Scale))]);
    }

    public string Key { get; } = Entries.Count == 0
        ? "base"
        : string.Join('+', Entries.Select(e => $"{e.Name}@{e.Version}*{e.Scale.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}"));

    public bool Equals(AdapterConfiguration? other) => other is not null && Key == other.Key;
    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);
    public override string ToString() => Key;
}

public sealed record AdapterConfigurationEntry(string Name, string Version, float Scale);
