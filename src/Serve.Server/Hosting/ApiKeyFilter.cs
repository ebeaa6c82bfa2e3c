using Microsoft.Extensions.Options;
using Serve.Server.OpenAi;

namespace Serve.Server.Hosting;

/// <summary>
/// Bearer keys on the /v1 route group and vLLM's /tokenize and /detokenize: one of Serve:ApiKeys when any is
/// configured. /admin and vLLM's adapter endpoints take the admin key instead (<see cref="Admin.AdminKeyFilter"/>);
/// health, metrics and the API description stay open for probes and scrapers.
/// </summary>
internal sealed class ApiKeyFilter(IOptionsMonitor<ServerOptions> options) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var keys = options.CurrentValue.ApiKeys;
        if (keys.Count == 0) return next(context);
        var key = BearerToken(context.HttpContext.Request)
            ?? throw new OpenAiException(401, "You didn't provide an API key. Provide it in the Authorization header as 'Bearer YOUR_KEY'.",
                OpenAiErrorTypes.InvalidRequest, null, "missing_api_key");
        if (!keys.Any(k => Admin.AdminKeyFilter.FixedTimeEquals(k, key)))
            throw new OpenAiException(401, "Incorrect API key provided.", OpenAiErrorTypes.InvalidRequest, null, "invalid_api_key");
        return next(context);
    }

    internal static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.FirstOrDefault();
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return null;
        var token = header["Bearer ".Length..].Trim();
        return token.Length == 0 ? null : token;
    }
}
