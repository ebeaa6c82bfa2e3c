using Microsoft.AspNetCore.Diagnostics;
using Serve.Server.OpenAi;

namespace Serve.Server.Hosting;

/// <summary>OpenAI-shaped bodies for the status codes routing produces without one (404 unknown URL, 405, 415, ...).</summary>
internal static class StatusCodeErrors
{
    public static Task WriteAsync(StatusCodeContext status)
    {
        var context = status.HttpContext;
        var code = context.Response.StatusCode;
        var request = $"{context.Request.Method} {context.Request.Path}";
        var error = code switch
        {
            404 => new OpenAiException(404, $"Unknown request URL: {request}. Please check the URL for typos.", OpenAiErrorTypes.InvalidRequest, null, "unknown_url"),
            405 => new OpenAiException(405, $"Method not allowed: {request}.", OpenAiErrorTypes.InvalidRequest, null, "method_not_allowed"),
            415 => new OpenAiException(415, "Unsupported content type: send the body as application/json.", OpenAiErrorTypes.InvalidRequest, null, "unsupported_media_type"),
            401 => new OpenAiException(401, "Authentication required.", OpenAiErrorTypes.InvalidRequest, null, "invalid_api_key"),
            429 => new OpenAiException(429, "Too many requests.", OpenAiErrorTypes.RateLimit, null, "rate_limit_exceeded"),
            >= 500 => new OpenAiException(code, "The server had an error while processing your request.", OpenAiErrorTypes.Server),
            _ => new OpenAiException(code, $"The request failed with status {code}.", OpenAiErrorTypes.InvalidRequest),
        };
        return OpenAiErrors.WriteAsync(context, error);
    }
}
