using System.Security.Cryptography;
using System.Text;
using Serve.Engine;

namespace Serve.Redis.Caching;

/// <summary>
/// The cache key of a deterministic request: the base model's hash, the adapter configuration with every
/// adapter's version (content hash) and scale, the endpoint, and the request in a canonical form (normalised
/// messages and every sampling parameter). A republished adapter has a new version, so its old entries can never
/// match again.
/// </summary>
public static class ResponseCacheKey
{
    public static string Compute(string baseModelSha256, AdapterConfiguration adapters, string endpoint, string canonicalRequest)
    {
        var text = $"v1\n{baseModelSha256}\n{adapters.Key}\n{endpoint}\n{canonicalRequest}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
