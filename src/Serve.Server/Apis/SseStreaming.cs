using Serve.Server.OpenAi;

namespace Serve.Server.Apis;

/// <summary>
/// Runs the body of a stream whose headers are sent: a client that goes away just ends it (the engine sees the
/// cancelled token and frees the sequence); any other failure becomes a final <c>data: {"error":...}</c> event.
/// </summary>
internal static class SseStreaming
{
    public static async Task RunAsync(SseWriter sse, HttpContext context, Func<Task> body)
    {
        try
        {
            await body().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception exception)
        {
            var error = OpenAiErrors.From(exception);
            if (error.StatusCode >= 500 && exception is not Serve.Engine.EngineException)
                context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SseStreaming))
                    .LogError(exception, "Stream on {Path} failed", context.Request.Path);
            try
            {
                await sse.WriteAsync(new OpenAiErrorResponse(error.ToError()), ServeJson.Context.OpenAiErrorResponse, context.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception) when (context.RequestAborted.IsCancellationRequested)
            {
            }
        }
    }
}
