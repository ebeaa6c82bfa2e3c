namespace Serve.Models;

/// <summary>
/// Deterministic normal samples: SplitMix64 feeding Box-Muller. Each tensor gets its own stream seeded from the maker
/// seed and the tensor name, so a tensor's values do not depend on which other tensors a file holds.
/// </summary>
public sealed class SeededNormal
{
    private ulong _state;
    private float? _spare;

    public SeededNormal(int seed, string stream)
    {
        // FNV-1a over the stream name, mixed with the seed.
        var hash = 14695981039346656037UL;
        foreach (var c in stream) { hash ^= c; hash *= 1099511628211UL; }
        _state = hash ^ ((ulong)(uint)seed * 0x9E3779B97F4A7C15UL);
    }

    public float Next()
    {
        if (_spare is { } spare) { _spare = null; return spare; }
        // u1 in (0, 1] so the log is finite.
        var u1 = ((NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53));
        var u2 = (NextUInt64() >> 11) * (1.0 / (1UL << 53));
        var r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spare = (float)(r * Math.Sin(2 * Math.PI * u2));
        return (float)(r * Math.Cos(2 * Math.PI * u2));
    }

    public float[] Fill(long count, float std)
    {
        var values = new float[count];
        for (var i = 0; i < values.Length; i++) values[i] = Next() * std;
        return values;
    }

    private ulong NextUInt64()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
