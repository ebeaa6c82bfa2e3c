using System.Text;
using Microsoft.Extensions.Options;
using Serve.Engine;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;

namespace Serve.Server.Apis;

/// <summary>POST /v1/completions: raw-prompt completion (OpenAI's legacy API), streamed or whole.</summary>
public static class CompletionsApi
{
    public static IEndpointRouteBuilder MapCompletionsApi(this IEndpointRouteBuilder routes)
    {
        return routes.MapGeneration<CompletionRequest, CompletionResponse>("/v1/completions", "CreateCompletion",
            "Completes a raw prompt; model names the base model, \"base\" or an adapter.", HandleAsync);
    }

    private static Task HandleAsync(HttpContext context, EngineHost host, IOptionsSnapshot<ServerOptions> options) =>
        GenerationApi.HandleAsync(context, host, options, ServeJson.Context.CompletionRequest, RequestMapper.Map, "completions", WholeAsync, StreamAsync);

    private static async Task WholeAsync(HttpContext context, InferenceEngine engine, GenerationPlan plan, GenerationRun run, CancellationToken cancellationToken)
    {
        var text = new StringBuilder(plan.Echo ?? "");
        var tokens = plan.Request.Logprobs ? new List<TokenLogprob>() : null;
        GenerationCompleted? completed = null;
        await foreach (var update in run.ReadAllAsync().ConfigureAwait(false))
        {
            switch (update)
            {
                case GenerationDelta delta:
                    text.Append(delta.Text);
                    if (tokens is not null && delta.Logprobs is not null) tokens.AddRange(delta.Logprobs);
                    break;
                case GenerationCompleted c:
                    completed = c;
                    break;
            }
        }
        if (completed is null) throw new InvalidOperationException("The engine ended a generation without completing it.");
        var logprobs = tokens is null ? null : ResponseFactory.CompletionLogprobs(tokens, plan.Echo?.Length ?? 0);
        var response = new CompletionResponse(
            ResponseFactory.CompletionId(), ResponseFactory.Now(), plan.Model, ResponseFactory.Fingerprint(engine),
            [new CompletionChoice(text.ToString(), 0, logprobs, ResponseFactory.FinishReason(completed.Reason))],
            ResponseFactory.Usage(completed));
        await context.Response.WriteAsJsonAsync(response, ServeJson.Context.CompletionResponse, "application/json", cancellationToken).ConfigureAwait(false);
    }

    private static async Task StreamAsync(HttpContext context, InferenceEngine engine, GenerationPlan plan, GenerationRun run, CancellationToken cancellationToken)
    {
        var id = ResponseFactory.CompletionId();
        var created = ResponseFactory.Now();
        var fingerprint = ResponseFactory.Fingerprint(engine);
        CompletionResponse Chunk(CompletionChoice choice) => new(id, created, plan.Model, fingerprint, [choice], null);

        var sse = new SseWriter(context.Response);
        sse.Start();
        await SseStreaming.RunAsync(sse, context, async () =>
        {
            var offset = 0;
            if (!string.IsNullOrEmpty(plan.Echo))
            {
                await sse.WriteAsync(Chunk(new CompletionChoice(plan.Echo, 0, null, null)), ServeJson.Context.CompletionResponse, cancellationToken).ConfigureAwait(false);
                offset = plan.Echo.Length;
            }
            await foreach (var update in run.ReadAllAsync().ConfigureAwait(false))
            {
                switch (update)
                {
                    case GenerationDelta delta when delta.Text.Length > 0 || delta.Logprobs is { Count: > 0 }:
                        var logprobs = plan.Request.Logprobs && delta.Logprobs is not null ? ResponseFactory.CompletionLogprobs(delta.Logprobs, offset) : null;
                        offset += delta.Text.Length;
                        await sse.WriteAsync(Chunk(new CompletionChoice(delta.Text, 0, logprobs, null)), ServeJson.Context.CompletionResponse, cancellationToken).ConfigureAwait(false);
                        break;
                    case GenerationCompleted completed:
                        await sse.WriteAsync(Chunk(new CompletionChoice("", 0, null, ResponseFactory.FinishReason(completed.Reason))), ServeJson.Context.CompletionResponse, cancellationToken).ConfigureAwait(false);
                        if (plan.IncludeUsage)
                            await sse.WriteAsync(new CompletionResponse(id, created, plan.Model, fingerprint, [], ResponseFactory.Usage(completed)), ServeJson.Context.CompletionResponse, cancellationToken).ConfigureAwait(false);
                        break;
                }
            }
            await sse.WriteDoneAsync(cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }
}
