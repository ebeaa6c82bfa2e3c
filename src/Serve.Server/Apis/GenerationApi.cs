using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Options;
using Serve.Engine;
using Serve.Server.Caching;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;

namespace Serve.Server.Apis;

/// <summary>
/// The request pipeline chat and completions share: read the body, map it to an engine request, serve it from
/// the cache or run it, answer whole or as SSE, record tokens for rate limits. Only mapping and response shape differ.
/// </summary>
internal static class GenerationApi
{
    internal delegate Task Responder(HttpContext context, InferenceEngine engine, GenerationPlan plan, GenerationRun run, CancellationToken cancellationToken);

    /// <summary>Maps one generation endpoint with the OpenAPI metadata chat and completions share.</summary>
    public static IEndpointRouteBuilder MapGeneration<TRequest, TResponse>(this IEndpointRouteBuilder routes, string pattern, string name, string summary, Delegate handler)
        where TRequest : notnull
    {
        routes.MapPost(pattern, handler)
            .WithName(name)
            .WithTags("OpenAI")
            .WithSummary(summary)
            .Accepts<TRequest>("application/json")
            .Produces<TResponse>(StatusCodes.Status200OK, "application/json", "text/event-stream")
            .Produces<OpenAiErrorResponse>(StatusCodes.Status400BadRequest)
            .Produces<OpenAiErrorResponse>(StatusCodes.Status404NotFound)
            .Produces<OpenAiErrorResponse>(StatusCodes.Status503ServiceUnavailable);
        return routes;
    }

    public static async Task HandleAsync<TBody>(
        HttpContext context, EngineHost host, IOptionsSnapshot<ServerOptions> options,
        JsonTypeInfo<TBody> bodyType, Func<TBody, InferenceEngine, ServerOptions, GenerationPlan> map, string cacheKind,
        Responder whole, Responder stream) where TBody : class
    {
        var cancellationToken = context.RequestAborted;
        var body = await JsonBodyReader.ReadAsync(context.Request, bodyType, cancellationToken).ConfigureAwait(false);
        var engine = host.Require();
        var plan = map(body, engine, options.Value);
        plan = plan with { Request = plan.Request with { ClientId = ClientIdentity.Of(context, options.Value) } }; // fairness between clients (issue 17)
        // Every engine rule is checked and the prompt tokenized here, once, before the cache is consulted.
        var prepared = RequestMapper.Prepare(plan, engine, options.Value);
        var cached = await context.RequestServices.GetRequiredService<ResponseCaching>().LookupAsync(context, engine, cacheKind, plan).ConfigureAwait(false);
        if (cached.Served) return;
        await using var run = await GenerationRun.StartAsync(engine, prepared, cancellationToken).ConfigureAwait(false);
        await (plan.Stream ? stream : whole)(context, engine, plan, run, cancellationToken).ConfigureAwait(false);
        await cached.CompleteAsync(run).ConfigureAwait(false);
        await RateLimitFilter.RecordTokensAsync(context, run.Completed).ConfigureAwait(false);
    }
}
