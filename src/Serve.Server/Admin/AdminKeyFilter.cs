using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;

namespace Serve.Server.Admin;

/// <summary>
/// The admin key as an endpoint filter, for admin operations that live outside /admin (vLLM's
/// /v1/load_lora_adapter and /v1/unload_lora_adapter): Serve:AdminKey as 'Authorization: Bearer' or X-Admin-Key, or,
/// with no admin key configured, loopback clients only. <see cref="Check"/> is the one rule /admin uses too.
/// </summary>
internal sealed class AdminKeyFilter(IOptionsMonitor<ServerOptions> options) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (Check(context.HttpContext, options.CurrentValue) is { } refusal) throw refusal;
        return next(context);
    }

    /// <summary>Null when the request may use the admin API, else the error to answer with.</summary>
    public static OpenAiException? Check(HttpContext context, ServerOptions options)
    {
        if (string.IsNullOrEmpty(options.AdminKey))
        {
            var remote = context.Connection.RemoteIpAddress;
            if (remote is null || IPAddress.IsLoopback(remote)) return null;
            return new OpenAiException(403, "The admin API is only open to loopback clients when no admin key is configured (Serve:AdminKey).",
                OpenAiErrorTypes.Permission, null, "admin_disabled");
        }
        var key = ApiKeyFilter.BearerToken(context.Request) ?? context.Request.Headers["X-Admin-Key"].FirstOrDefault();
        if (key is null) return new OpenAiException(401, "The admin API needs the admin key as 'Authorization: Bearer ADMIN_KEY'.", OpenAiErrorTypes.InvalidRequest, null, "missing_api_key");
        return FixedTimeEquals(options.AdminKey, key) ? null : new OpenAiException(401, "Incorrect admin key provided.", OpenAiErrorTypes.InvalidRequest, null, "invalid_api_key");
    }

    /// <summary>Compares without leaking through timing how much of a key was right.</summary>
    internal static bool FixedTimeEquals(string expected, string actual) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(expected)), SHA256.HashData(Encoding.UTF8.GetBytes(actual)));
}
