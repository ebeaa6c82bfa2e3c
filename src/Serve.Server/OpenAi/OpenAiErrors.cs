using Microsoft.AspNetCore.Diagnostics;
using Serve.Engine;
using Serve.Engine.Adapters;

namespace Serve.Server.OpenAi;

/// <summary>Maps exceptions to OpenAI-shaped errors and writes them.</summary>
internal static class OpenAiErrors
{
    /// <summary>The error a client gets for an exception; internals of unexpected ones are never shown.</summary>
    public static OpenAiException From(Exception exception) => exception switch
    {
        OpenAiException e => e,
        ContextLengthExceededException e => OpenAiException.BadRequest(e.Message, e.Param ?? "messages", "context_length_exceeded"),
        AdapterNotFoundException e => OpenAiException.ModelNotFound(e.Name),
        AdapterUnloadedException e => new OpenAiException(503, e.Message, OpenAiErrorTypes.Server, e.Param, "adapter_unloaded") { RetryAfterSeconds = 1 },
        EngineOverloadedException e => new OpenAiException(503, e.Message, OpenAiErrorTypes.Server, null, "engine_overloaded") { RetryAfterSeconds = 1 },
        InvalidGenerationRequestException e => OpenAiException.BadRequest(e.Message, e.Param, "invalid_value"),
        AdapterValidationException e => OpenAiException.BadRequest(e.Message, e.Param, "invalid_adapter"),
        // Other engine errors (llama.cpp refusing an adapter at load time) carry messages meant for clients.
        EngineException e => new OpenAiException(500, e.Message, OpenAiErrorTypes.Server, e.Param, "engine_error"),
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => new OpenAiException(413,
            "The request body is too large.", OpenAiErrorTypes.InvalidRequest, null, "request_too_large"),
        BadHttpRequestException e => new OpenAiException(e.StatusCode, "The request could not be read: " + e.Message, OpenAiErrorTypes.InvalidRequest, null, "bad_request"),
        ObjectDisposedException => new OpenAiException(503, "The server is shutting down.", OpenAiErrorTypes.Server, null, "shutting_down") { RetryAfterSeconds = 5 },
        _ => new OpenAiException(500, "The server had an error while processing your request. Sorry about that!", OpenAiErrorTypes.Server),
    };

    public static async Task WriteAsync(HttpContext context, OpenAiException error)
    {
        var response = context.Response;
        response.StatusCode = error.StatusCode;
        if (error.RetryAfterSeconds is { } retry) response.Headers.RetryAfter = retry.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (error.StatusCode == StatusCodes.Status401Unauthorized) response.Headers.WWWAuthenticate = "Bearer";
        // Status-code pages must not run again over a body written here.
        context.Features.Get<IStatusCodePagesFeature>()?.Enabled = false;
        await response.WriteAsJsonAsync(new OpenAiErrorResponse(error.ToError()), ServeJson.Context.OpenAiErrorResponse, contentType: "application/json", context.RequestAborted)
            .ConfigureAwait(false);
    }
}
