using System.Text;

namespace Serve.Gateway.LoadBalancing;

/// <summary>
/// Highest-random-weight (rendezvous) hashing: each (key, replica) pair gets a pseudo-random weight and a key's
/// replicas rank by it. Losing a replica moves only the keys it ranked first; adding one takes about 1/n of them.
/// The weights are a fixed function of the bytes (FNV-1a then a SplitMix64 finaliser), never string.GetHashCode,
/// so every gateway process ranks the same way.
/// </summary>
public static class RendezvousHash
{
    public static ulong Hash(string value)
    {
        const ulong offset = 14695981039346656037UL;
        const ulong prime = 1099511628211UL;
        Span<byte> stack = stackalloc byte[256];
        var bytes = Encoding.UTF8.GetMaxByteCount(value.Length) <= stack.Length ? stack[..Encoding.UTF8.GetBytes(value, stack)] : Encoding.UTF8.GetBytes(value);
        var hash = offset;
        foreach (var b in bytes) hash = (hash ^ b) * prime;
        return Mix(hash);
    }

    /// <summary>The weight of a replica for a key; both arguments are <see cref="Hash"/> values.</summary>
    public static ulong Weight(ulong keyHash, ulong replicaHash) => Mix(keyHash ^ (replicaHash * 0x9E3779B97F4A7C15UL));

    /// <summary>Indexes of the replicas, best first, for a key.</summary>
    public static int[] Rank(string key, IReadOnlyList<string> replicaIds)
    {
        var keyHash = Hash(key);
        var weights = new ulong[replicaIds.Count];
        var order = new int[replicaIds.Count];
        for (var i = 0; i < order.Length; i++)
        {
            weights[i] = Weight(keyHash, Hash(replicaIds[i]));
            order[i] = i;
        }
        // Ties (practically impossible with 64-bit weights) break by id, so the order never depends on list order.
        Array.Sort(order, (a, b) => weights[a] != weights[b] ? weights[b].CompareTo(weights[a]) : string.CompareOrdinal(replicaIds[a], replicaIds[b]));
        return order;
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
