using System.Text;
using Microsoft.Extensions.Options;
using Serve.Engine;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;
using Serve.Server.Tools;

namespace Serve.Server.Apis;

/// <summary>POST /v1/chat/completions: the chat API the official SDKs call, streamed (SSE) or whole.</summary>
public static class ChatCompletionsApi
{
    public static IEndpointRouteBuilder MapChatCompletionsApi(this IEndpointRouteBuilder routes)
    {
        return routes.MapGeneration<ChatCompletionRequest, ChatCompletionResponse>("/v1/chat/completions", "CreateChatCompletion",
            "Creates a chat completion; model names the base model, \"base\" or an adapter.", HandleAsync);
    }

    private static Task HandleAsync(HttpContext context, EngineHost host, IOptionsSnapshot<ServerOptions> options) =>
        GenerationApi.HandleAsync(context, host, options, ServeJson.Context.ChatCompletionRequest, RequestMapper.Map, "chat/completions", WholeAsync, StreamAsync);

    private static async Task WholeAsync(HttpContext context, InferenceEngine engine, GenerationPlan plan, GenerationRun run, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var logprobs = plan.Request.Logprobs ? new List<ChatTokenLogprob>() : null;
        GenerationCompleted? completed = null;
        await foreach (var update in run.ReadAllAsync().ConfigureAwait(false))
        {
            switch (update)
            {
                case GenerationDelta delta:
                    text.Append(delta.Text);
                    if (logprobs is not null && delta.Logprobs is not null) logprobs.AddRange(delta.Logprobs.Select(ResponseFactory.ChatLogprob));
                    break;
                case GenerationCompleted c:
                    completed = c;
                    break;
            }
        }
        if (completed is null) throw new InvalidOperationException("The engine ended a generation without completing it.");
        var message = new ChatResponseMessage("assistant", text.ToString());
        var finishReason = ResponseFactory.FinishReason(completed.Reason);
        if (plan.Tools is { MayCall: true })
        {
            var calls = new ToolCallStream();
            calls.Feed(text.ToString());
            if (calls.HasCalls)
            {
                message = new ChatResponseMessage("assistant", null, [.. calls.Calls.Select(c => new ToolCallView(c.Id, new FunctionCallView(c.Name, c.Arguments)))]);
                finishReason = ToolFinishReason(calls, finishReason);
            }
        }
        var response = new ChatCompletionResponse(
            ResponseFactory.ChatId(), ResponseFactory.Now(), plan.Model, ResponseFactory.Fingerprint(engine),
            [new ChatChoice(0, message, logprobs is null ? null : new ChatLogprobs(logprobs), finishReason)],
            ResponseFactory.Usage(completed));
        await context.Response.WriteAsJsonAsync(response, ServeJson.Context.ChatCompletionResponse, "application/json", cancellationToken).ConfigureAwait(false);
    }

    private static async Task StreamAsync(HttpContext context, InferenceEngine engine, GenerationPlan plan, GenerationRun run, CancellationToken cancellationToken)
    {
        var id = ResponseFactory.ChatId();
        var created = ResponseFactory.Now();
        var fingerprint = ResponseFactory.Fingerprint(engine);
        ChatCompletionChunk Chunk(ChatChunkChoice choice) => new(id, created, plan.Model, fingerprint, [choice]);

        var sse = new SseWriter(context.Response);
        sse.Start();
        await SseStreaming.RunAsync(sse, context, async () =>
        {
            await sse.WriteAsync(Chunk(new ChatChunkChoice(0, new ChatDelta("assistant", ""), null, null)), ServeJson.Context.ChatCompletionChunk, cancellationToken).ConfigureAwait(false);
            var calls = plan.Tools is { MayCall: true } ? new ToolCallStream() : null;
            await foreach (var update in run.ReadAllAsync().ConfigureAwait(false))
            {
                switch (update)
                {
                    case GenerationDelta delta when delta.Text.Length > 0 || delta.Logprobs is { Count: > 0 }:
                        var logprobs = plan.Request.Logprobs && delta.Logprobs is not null ? new ChatLogprobs([.. delta.Logprobs.Select(ResponseFactory.ChatLogprob)]) : null;
                        if (calls is null)
                        {
                            await sse.WriteAsync(Chunk(new ChatChunkChoice(0, new ChatDelta(null, delta.Text), logprobs, null)), ServeJson.Context.ChatCompletionChunk, cancellationToken).ConfigureAwait(false);
                            break;
                        }
                        foreach (var piece in calls.Feed(delta.Text))
                        {
                            var chunkDelta = piece switch
                            {
                                ContentEvent c => new ChatDelta(null, c.Text),
                                CallStartEvent start => new ChatDelta(null, null, [new ToolCallDelta(start.Index, start.Id, "function", new FunctionCallDelta(start.Name, ""))]),
                                ArgumentsEvent a => new ChatDelta(null, null, [new ToolCallDelta(a.Index, null, null, new FunctionCallDelta(null, a.Fragment))]),
                                _ => throw new InvalidOperationException("unknown tool stream event"),
                            };
                            await sse.WriteAsync(Chunk(new ChatChunkChoice(0, chunkDelta, logprobs, null)), ServeJson.Context.ChatCompletionChunk, cancellationToken).ConfigureAwait(false);
                            logprobs = null;
                        }
                        break;
                    case GenerationCompleted completed:
                        var finishReason = ResponseFactory.FinishReason(completed.Reason);
                        if (calls is { HasCalls: true }) finishReason = ToolFinishReason(calls, finishReason);
                        await sse.WriteAsync(Chunk(new ChatChunkChoice(0, new ChatDelta(null, null), null, finishReason)), ServeJson.Context.ChatCompletionChunk, cancellationToken).ConfigureAwait(false);
                        if (plan.IncludeUsage)
                            await sse.WriteAsync(new ChatCompletionChunk(id, created, plan.Model, fingerprint, [], ResponseFactory.Usage(completed)), ServeJson.Context.ChatCompletionChunk, cancellationToken).ConfigureAwait(false);
                        break;
                }
            }
            await sse.WriteDoneAsync(cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>"tool_calls" when the model ended after its calls; "length" when the token limit cut a call short.</summary>
    private static string ToolFinishReason(ToolCallStream calls, string finishReason) =>
        calls.Incomplete || finishReason == "length" ? "length" : "tool_calls";
}
