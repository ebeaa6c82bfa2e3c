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

    public string Key { get; } = Entries.Count == 0
        ? "base"
        : string.Join('+', Entries.Select(e => $"{e.Name}@{e.Version}*{e.Scale.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}"));

    public bool Equals(AdapterConfiguration? other) => other is not null && Key == other.Key;
    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);
    public override string ToString() => Key;
}

public sealed record AdapterConfigurationEntry(string Name, string Version, float Scale);
