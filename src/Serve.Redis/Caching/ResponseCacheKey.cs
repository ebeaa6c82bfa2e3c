using System.Security.Cryptography;
using System.Text;

namespace Serve.Redis.Caching;

/// <summary>
/// The cache key of a deterministic request: the base model's hash, the adapter configuration's key (the engine's AdapterConfiguration.Key) with every
/// adapter's version (content hash) and scale, the endpoint, and the request in a canonical form (normalised
/// messages and every sampling parameter). A republished adapter has a new version, so its old entries can never
/// match again.
/// </summary>
public static class ResponseCacheKey
{
    public static string Compute(string baseModelSha256, string adapterConfigurationKey, string endpoint, string canonicalRequest)
    {
        var text = $"v1\n{baseModelSha256}\n{adapterConfigurationKey}\n{endpoint}\n{canonicalRequest}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
