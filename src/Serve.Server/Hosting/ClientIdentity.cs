using System.Security.Cryptography;
using System.Text;

namespace Serve.Server.Hosting;

/// <summary>
/// Who a /v1 request is for fairness in the engine (GenerationRequest.ClientId): its API key when keys are
/// configured (hashed: the engine keeps no secrets), else its address. With /v1 open any bearer is accepted, so a
/// bearer cannot name a client there (a new one per request would make every request a new client).
/// </summary>
internal static class ClientIdentity
{
    public static string Of(HttpContext context, ServerOptions options)
    {
        if (options.ApiKeys.Count > 0 && ApiKeyFilter.BearerToken(context.Request) is { } key)
            return "key:" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)), 0, 8);
        return "ip:" + (context.Connection.RemoteIpAddress?.ToString() ?? "unknown");
    }
}
