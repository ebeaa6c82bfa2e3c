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
        // vLLM's adapter endpoints sit under /v1 but are admin operations: AdminKeyFilter guards them, with the admin key.
        if (Apis.LoraAdapterApi.IsAdapterEndpoint(path)) return next(context);
        // vLLM serves /tokenize and /detokenize beside /v1: the same keys guard them.
        if (path.StartsWithSegments("/v1") || path.StartsWithSegments("/tokenize") || path.StartsWithSegments("/detokenize"))
        {
            if (o.ApiKeys.Count == 0) return next(context);
            var key = BearerToken(context.Request);
            if (key is null)
                return Reject(context, 401, "You didn't provide an API key. Provide it in the Authorization header as 'Bearer YOUR_KEY'.", "missing_api_key");
            if (!o.ApiKeys.Any(k => Admin.AdminKeyFilter.FixedTimeEquals(k, key)))
                return Reject(context, 401, "Incorrect API key provided.", "invalid_api_key");
            return next(context);
        }
        if (path.StartsWithSegments("/admin") && Admin.AdminKeyFilter.Check(context, o) is { } refusal)
            return OpenAiErrors.WriteAsync(context, refusal);
        return next(context);
    }

    internal static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.FirstOrDefault();
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return null;
        var token = header["Bearer ".Length..].Trim();
        return token.Length == 0 ? null : token;
    }

    private static Task Reject(HttpContext context, int status, string message, string code, string type = OpenAiErrorTypes.InvalidRequest) =>
        OpenAiErrors.WriteAsync(context, new OpenAiException(status, message, type, null, code));
}
