using System.Text;
using Microsoft.Extensions.Options;
using Serve.Engine;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;
using Serve.Server.Tools;

namespace Serve.Server.Apis;

/// <summary>POST /v1/chat/completions: the chat API the official SDKs call, streamed (SSE) or whole.</summary>
internal static class ChatCompletionsApi
{
    public static IEndpointRouteBuilder MapChatCompletionsApi(this IEndpointRouteBuilder routes)
    {
        return routes.MapGeneration<ChatCompletionRequest, ChatCompletionResponse>("/chat/completions", "CreateChatCompletion",
            "Creates a chat completion; model names the base model, \"base\" or an adapter.", HandleAsync);
    }

    private static Task HandleAsync(HttpContext context, EngineHost host, IOptionsSnapshot<ServerOptions> options) =>
        GenerationApi.HandleAsync(context, host, options, ServeJson.Context.ChatCompletionRequest, RequestMapper.Map, "chat/completions", WholeAsync, StreamAsync);

    private static async Task WholeAsync(HttpContext context, InferenceEngine engine, GenerationPlan plan, GenerationRun run, CancellationToken cancellationToken)
    {
        var n = plan.Request.Choices;
        var texts = Enumerable.Range(0, n).Select(_ => new StringBuilder()).ToArray();
        var logprobs = plan.Request.Logprobs ? Enumerable.Range(0, n).Select(_ => new List<ChatTokenLogprob>()).ToArray() : null;
        var completed = new GenerationCompleted?[n];
        await foreach (var update in run.ReadAllAsync().ConfigureAwait(false))
        {
            switch (update)
            {
                case GenerationDelta delta:
                    texts[delta.Choice].Append(delta.Text);
                    if (logprobs is not null && delta.Logprobs is not null) logprobs[delta.Choice].AddRange(delta.Logprobs.Select(ResponseFactory.ChatLogprob));
                    break;
                case GenerationCompleted c:
                    completed[c.Choice] = c;
                    break;
            }
        }
        if (run.Completed is not { } total) throw new InvalidOperationException("The engine ended a generation without completing every choice.");
        var choices = new ChatChoice[n];
        for (var i = 0; i < n; i++)
        {
            var text = texts[i].ToString();
            var message = new ChatResponseMessage("assistant", text);
            var finishReason = ResponseFactory.FinishReason(completed[i]!.Reason);
            if (plan.Tools is { MayCall: true })
            {
                var calls = new ToolCallStream();
                calls.Feed(text);
                if (calls.HasCalls)
                {
                    message = new ChatResponseMessage("assistant", null, [.. calls.Calls.Select(c => new ToolCallView(c.Id, new FunctionCallView(c.Name, c.Arguments)))]);
                    finishReason = ToolFinishReason(calls, finishReason);
                }
            }
            choices[i] = new ChatChoice(i, message, logprobs is null ? null : new ChatLogprobs(logprobs[i]), finishReason);
        }
        var response = new ChatCompletionResponse(
            ResponseFactory.ChatId(), ResponseFactory.Now(), plan.Model, ResponseFactory.Fingerprint(engine), choices, ResponseFactory.Usage(total));
        await context.Response.WriteAsJsonAsync(response, ServeJson.Context.ChatCompletionResponse, "application/json", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// SSE as OpenAI streams n choices: a role chunk per choice first, then each chunk carries one choice's delta
    /// under its index, each choice ends with its own finish_reason chunk, and usage (if asked) follows the last.
    /// </summary>
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
            var n = plan.Request.Choices;
            for (var i = 0; i < n; i++)
                await sse.WriteAsync(Chunk(new ChatChunkChoice(i, new ChatDelta("assistant", ""), null, null)), ServeJson.Context.ChatCompletionChunk, cancellationToken).ConfigureAwait(false);
            var calls = plan.Tools is { MayCall: true } ? Enumerable.Range(0, n).Select(_ => new ToolCallStream()).ToArray() : null;
            await foreach (var update in run.ReadAllAsync().ConfigureAwait(false))
            {
                switch (update)
                {
                    case GenerationDelta delta when delta.Text.Length > 0 || delta.Logprobs is { Count: > 0 }:
                        var index = delta.Choice;
                        var logprobs = plan.Request.Logprobs && delta.Logprobs is not null ? new ChatLogprobs([.. delta.Logprobs.Select(ResponseFactory.ChatLogprob)]) : null;
                        if (calls is null)
                        {
                            await sse.WriteAsync(Chunk(new ChatChunkChoice(index, new ChatDelta(null, delta.Text), logprobs, null)), ServeJson.Context.ChatCompletionChunk, cancellationToken).ConfigureAwait(false);
                            break;
                        }
                        foreach (var piece in calls[index].Feed(delta.Text))
                        {
                            var chunkDelta = piece switch
                            {
                                ContentEvent c => new ChatDelta(null, c.Text),
                                CallStartEvent start => new ChatDelta(null, null, [new ToolCallDelta(start.Index, start.Id, "function", new FunctionCallDelta(start.Name, ""))]),
                                ArgumentsEvent a => new ChatDelta(null, null, [new ToolCallDelta(a.Index, null, null, new FunctionCallDelta(null, a.Fragment))]),
                                _ => throw new InvalidOperationException("unknown tool stream event"),
                            };
                            await sse.WriteAsync(Chunk(new ChatChunkChoice(index, chunkDelta, logprobs, null)), ServeJson.Context.ChatCompletionChunk, cancellationToken).ConfigureAwait(false);
                            logprobs = null;
                        }
                        break;
                    case GenerationCompleted completed:
                        var finishReason = ResponseFactory.FinishReason(completed.Reason);
                        if (calls is not null && calls[completed.Choice].HasCalls) finishReason = ToolFinishReason(calls[completed.Choice], finishReason);
                        await sse.WriteAsync(Chunk(new ChatChunkChoice(completed.Choice, new ChatDelta(null, null), null, finishReason)), ServeJson.Context.ChatCompletionChunk, cancellationToken).ConfigureAwait(false);
                        if (plan.IncludeUsage && run.Completed is { } total)
                            await sse.WriteAsync(new ChatCompletionChunk(id, created, plan.Model, fingerprint, [], ResponseFactory.Usage(total)), ServeJson.Context.ChatCompletionChunk, cancellationToken).ConfigureAwait(false);
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
