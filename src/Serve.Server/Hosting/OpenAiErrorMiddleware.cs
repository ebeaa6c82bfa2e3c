using Serve.Server.OpenAi;

namespace Serve.Server.Hosting;

/// <summary>
/// Turns every exception under the API into an OpenAI-shaped error (4xx with the reason, 500 without internals),
/// and stops quietly when the client went away.
/// </summary>
internal sealed class OpenAiErrorMiddleware(RequestDelegate next, ILogger<OpenAiErrorMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client disconnected: there is no one to answer.
        }
        catch (Exception exception)
        {
            var error = OpenAiErrors.From(exception);
            if (error.StatusCode >= 500 && exception is not Serve.Engine.EngineException and not OpenAiException)
                logger.LogError(exception, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
            if (context.Response.HasStarted)
            {
                logger.LogWarning("Could not send error {Status} on {Path}: the response had started", error.StatusCode, context.Request.Path);
                return;
            }
            context.Response.Clear();
            await OpenAiErrors.WriteAsync(context, error).ConfigureAwait(false);
        }
    }
}
