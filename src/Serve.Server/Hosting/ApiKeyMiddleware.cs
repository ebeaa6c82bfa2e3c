using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Serve.Server.OpenAi;

namespace Serve.Server.Hosting;

/// <summary>
/// Bearer keys: /v1 needs one of Serve:ApiKeys when any is configured; /admin needs Serve:AdminKey, or comes from
/// loopback when none is configured (registering files by server path is not something to leave open). Health,
/// metrics and the API description stay open for probes and scrapers.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, IOptionsMonitor<ServerOptions> options)
{
    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        var o = options.CurrentValue;
        // vLLM serves /tokenize and /detokenize beside /v1: the same keys guard them.
        if (path.StartsWithSegments("/v1") || path.StartsWithSegments("/tokenize") || path.StartsWithSegments("/detokenize"))
        {
            if (o.ApiKeys.Count == 0) return next(context);
            var key = BearerToken(context.Request);
            if (key is null)
                return Reject(context, 401, "You didn't provide an API key. Provide it in the Authorization header as 'Bearer YOUR_KEY'.", "missing_api_key");
            if (!o.ApiKeys.Any(k => FixedTimeEquals(k, key)))
                return Reject(context, 401, "Incorrect API key provided.", "invalid_api_key");
            return next(context);
        }
        if (path.StartsWithSegments("/admin"))
        {
            if (string.IsNullOrEmpty(o.AdminKey))
            {
                var remote = context.Connection.RemoteIpAddress;
                if (remote is null || IPAddress.IsLoopback(remote)) return next(context);
                return Reject(context, 403, "The admin API is only open to loopback clients when no admin key is configured (Serve:AdminKey).", "admin_disabled", OpenAiErrorTypes.Permission);
            }
            var key = BearerToken(context.Request) ?? context.Request.Headers["X-Admin-Key"].FirstOrDefault();
            if (key is null) return Reject(context, 401, "The admin API needs the admin key as 'Authorization: Bearer ADMIN_KEY'.", "missing_api_key");
            if (!FixedTimeEquals(o.AdminKey, key)) return Reject(context, 401, "Incorrect admin key provided.", "invalid_api_key");
        }
        return next(context);
    }

    internal static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.FirstOrDefault();
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return null;
        var token = header["Bearer ".Length..].Trim();
        return token.Length == 0 ? null : token;
    }

    /// <summary>Compares without leaking through timing how much of a key was right.</summary>
    private static bool FixedTimeEquals(string expected, string actual) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(expected)), SHA256.HashData(Encoding.UTF8.GetBytes(actual)));

    private static Task Reject(HttpContext context, int status, string message, string code, string type = OpenAiErrorTypes.InvalidRequest) =>
        OpenAiErrors.WriteAsync(context, new OpenAiException(status, message, type, null, code));
}
