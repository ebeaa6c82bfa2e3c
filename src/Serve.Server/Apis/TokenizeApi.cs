using System.Text.Json;
using Microsoft.Extensions.Options;
using Serve.Engine;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;
using Serve.Server.Tools;

namespace Serve.Server.Apis;

/// <summary>
/// vLLM's POST /tokenize and /detokenize (also under /v1): a prompt, or chat messages formatted with the chat
/// template the model (base or adapter) is served with, as tokens; and tokens back to text.
/// </summary>
internal static class TokenizeApi
{
    /// <summary>Maps /tokenize and /detokenize on routes (the server maps them at the root and in the /v1 group); name tells the two apart in the API description.</summary>
    public static IEndpointRouteBuilder MapTokenizeApi(this IEndpointRouteBuilder routes, string name = "")
    {
        routes.MapPost("/tokenize", TokenizeAsync)
            .WithName("Tokenize" + name).WithTags("Extensions")
            .Accepts<TokenizeRequest>("application/json").Produces<TokenizeResponse>()
            .Produces<OpenAiErrorResponse>(StatusCodes.Status400BadRequest)
            .WithSummary("Tokens of a prompt, or of chat messages through the model's chat template (vLLM's /tokenize).");
        routes.MapPost("/detokenize", DetokenizeAsync)
            .WithName("Detokenize" + name).WithTags("Extensions")
            .Accepts<DetokenizeRequest>("application/json").Produces<DetokenizeResponse>()
            .Produces<OpenAiErrorResponse>(StatusCodes.Status400BadRequest)
            .WithSummary("The text of tokens (vLLM's /detokenize).");
        return routes;
    }

    private static async Task<IResult> TokenizeAsync(HttpContext context, EngineHost host, IOptionsSnapshot<ServerOptions> options)
    {
        var body = await JsonBodyReader.ReadAsync(context.Request, ServeJson.Context.TokenizeRequest, context.RequestAborted).ConfigureAwait(false);
        var engine = host.Require();
        Unrecognized(body.Unrecognized, options.Value);
        var model = string.IsNullOrWhiteSpace(body.Model) ? "base" : body.Model;
        RequestMapper.Adapters(model, null, engine); // an unknown model is a 404 before anything else
        string text;
        if (body.Messages is not null)
        {
            if (body.Prompt is not null) throw OpenAiException.BadRequest("Give either 'prompt' or 'messages', not both.", "prompt", "invalid_value");
            // The same validation and template as /v1/chat/completions, so the count is what a chat request would use.
            var chat = new ChatCompletionRequest { Model = model, Messages = body.Messages, Tools = body.Tools, ToolChoice = body.ToolChoice };
            var plan = RequestMapper.Map(chat, engine, options.Value);
            if (body.AddGenerationPrompt == false)
                throw OpenAiException.BadRequest("add_generation_prompt=false is not supported: chat prompts always end with the assistant's opening.", "add_generation_prompt", "unsupported_value");
            text = engine.PromptText(plan.Request);
        }
        else
        {
            text = body.Prompt ?? throw OpenAiException.BadRequest("Missing required parameter: 'prompt' (or 'messages').", "prompt", "missing_required_parameter");
        }
        var tokens = engine.Tokenize(text, body.AddSpecialTokens ?? true);
        // Messages over this server's prompt limit are refused as the chat request would be.
        if (body.Messages is not null) RequestMapper.CheckPromptTokens(options.Value, tokens.Length, "messages");
        return TypedResults.Json(new TokenizeResponse(tokens.Length, engine.Options.ContextPerSequence!.Value, tokens), ServeJson.Context.TokenizeResponse);
    }

    private static async Task<IResult> DetokenizeAsync(HttpContext context, EngineHost host, IOptionsSnapshot<ServerOptions> options)
    {
        var body = await JsonBodyReader.ReadAsync(context.Request, ServeJson.Context.DetokenizeRequest, context.RequestAborted).ConfigureAwait(false);
        var engine = host.Require();
        Unrecognized(body.Unrecognized, options.Value);
        RequestMapper.Adapters(string.IsNullOrWhiteSpace(body.Model) ? "base" : body.Model, null, engine);
        var tokens = body.Tokens ?? throw OpenAiException.BadRequest("Missing required parameter: 'tokens'.", "tokens", "missing_required_parameter");
        try
        {
            return TypedResults.Json(new DetokenizeResponse(engine.Detokenize(tokens)), ServeJson.Context.DetokenizeResponse);
        }
        catch (ArgumentException e)
        {
            throw OpenAiException.BadRequest(e.Message, "tokens", "invalid_value");
        }
    }

    private static void Unrecognized(Dictionary<string, JsonElement>? fields, ServerOptions options)
    {
        if (fields is { Count: > 0 } && options.StrictRequestFields)
        {
            var name = fields.Keys.First();
            throw OpenAiException.BadRequest($"Unrecognized request argument supplied: {name}", name, "unrecognized_argument");
        }
    }
}

internal sealed class TokenizeRequest
{
    /// <summary>The base model's name, "base" or an adapter (its chat template formats messages); default base.</summary>
    public string? Model { get; set; }
    public string? Prompt { get; set; }
    public List<ChatMessageBody>? Messages { get; set; }
    public List<ToolBody>? Tools { get; set; }
    public JsonElement? ToolChoice { get; set; }
    public bool? AddGenerationPrompt { get; set; }
    /// <summary>Add BOS as a prompt gets it (default true).</summary>
    public bool? AddSpecialTokens { get; set; }
    [System.Text.Json.Serialization.JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}

internal sealed record TokenizeResponse(int Count, int MaxModelLen, IReadOnlyList<int> Tokens);

internal sealed class DetokenizeRequest
{
    public string? Model { get; set; }
    public List<int>? Tokens { get; set; }
    [System.Text.Json.Serialization.JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}

internal sealed record DetokenizeResponse(string Prompt);
