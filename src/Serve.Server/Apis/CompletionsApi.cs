using System.Text;
using Microsoft.Extensions.Options;
using Serve.Engine;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;

namespace Serve.Server.Apis;

/// <summary>POST /v1/completions: raw-prompt completion (OpenAI's legacy API), streamed or whole.</summary>
internal static class CompletionsApi
{
    public static IEndpointRouteBuilder MapCompletionsApi(this IEndpointRouteBuilder routes)
    {
        return routes.MapGeneration<CompletionRequest, CompletionResponse>("/completions", "CreateCompletion",
            "Completes a raw prompt; model names the base model, \"base\" or an adapter.", HandleAsync);
    }

    private static Task HandleAsync(HttpContext context, EngineHost host, IOptionsSnapshot<ServerOptions> options) =>
        GenerationApi.HandleAsync(context, host, options, ServeJson.Context.CompletionRequest, RequestMapper.Map, "completions", WholeAsync, StreamAsync);

    private static async Task WholeAsync(HttpContext context, InferenceEngine engine, GenerationPlan plan, GenerationRun run, CancellationToken cancellationToken)
    {
        var n = plan.Request.Choices;
        var texts = Enumerable.Range(0, n).Select(_ => new StringBuilder(plan.Echo ?? "")).ToArray();
        var tokens = plan.Request.Logprobs ? Enumerable.Range(0, n).Select(_ => new List<TokenLogprob>()).ToArray() : null;
        var completed = new GenerationCompleted?[n];
        await foreach (var update in run.ReadAllAsync().ConfigureAwait(false))
        {
            switch (update)
            {
                case GenerationDelta delta:
                    texts[delta.Choice].Append(delta.Text);
                    if (tokens is not null && delta.Logprobs is not null) tokens[delta.Choice].AddRange(delta.Logprobs);
                    break;
                case GenerationCompleted c:
                    completed[c.Choice] = c;
                    break;
            }
        }
        if (run.Completed is not { } total) throw new InvalidOperationException("The engine ended a generation without completing every choice.");
        var choices = new CompletionChoice[n];
        for (var i = 0; i < n; i++)
        {
            var logprobs = tokens is null ? null : ResponseFactory.CompletionLogprobs(tokens[i], plan.Echo?.Length ?? 0);
            choices[i] = new CompletionChoice(texts[i].ToString(), i, logprobs, ResponseFactory.FinishReason(completed[i]!.Reason));
        }
        var response = new CompletionResponse(
            ResponseFactory.CompletionId(), ResponseFactory.Now(), plan.Model, ResponseFactory.Fingerprint(engine), choices, ResponseFactory.Usage(total));
        await context.Response.WriteAsJsonAsync(response, ServeJson.Context.CompletionResponse, "application/json", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>SSE with n choices: each chunk carries one choice's text under its index (echo first, for each), each choice ends with its own finish_reason, usage follows the last.</summary>
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
            var n = plan.Request.Choices;
            var offsets = new int[n];
            if (!string.IsNullOrEmpty(plan.Echo))
            {
                for (var i = 0; i < n; i++)
                {
                    await sse.WriteAsync(Chunk(new CompletionChoice(plan.Echo, i, null, null)), ServeJson.Context.CompletionResponse, cancellationToken).ConfigureAwait(false);
                    offsets[i] = plan.Echo.Length;
                }
            }
            await foreach (var update in run.ReadAllAsync().ConfigureAwait(false))
            {
                switch (update)
                {
                    case GenerationDelta delta when delta.Text.Length > 0 || delta.Logprobs is { Count: > 0 }:
                        var logprobs = plan.Request.Logprobs && delta.Logprobs is not null ? ResponseFactory.CompletionLogprobs(delta.Logprobs, offsets[delta.Choice]) : null;
                        offsets[delta.Choice] += delta.Text.Length;
                        await sse.WriteAsync(Chunk(new CompletionChoice(delta.Text, delta.Choice, logprobs, null)), ServeJson.Context.CompletionResponse, cancellationToken).ConfigureAwait(false);
                        break;
                    case GenerationCompleted completed:
                        await sse.WriteAsync(Chunk(new CompletionChoice("", completed.Choice, null, ResponseFactory.FinishReason(completed.Reason))), ServeJson.Context.CompletionResponse, cancellationToken).ConfigureAwait(false);
                        if (plan.IncludeUsage && run.Completed is { } total)
                            await sse.WriteAsync(new CompletionResponse(id, created, plan.Model, fingerprint, [], ResponseFactory.Usage(total)), ServeJson.Context.CompletionResponse, cancellationToken).ConfigureAwait(false);
                        break;
                }
            }
            await sse.WriteDoneAsync(cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }
}
