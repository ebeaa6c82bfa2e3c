using Microsoft.Extensions.Options;
using Serve.Engine;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;

namespace Serve.Server.Apis;

/// <summary>GET /v1/models and /v1/models/{id}: the base model and every registered adapter (parent = the base).</summary>
internal static class ModelsApi
{
    public static IEndpointRouteBuilder MapModelsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/models", (EngineHost host, IOptionsSnapshot<ServerOptions> options) =>
            {
                var engine = host.Require();
                var owner = options.Value.OwnedBy;
                var cards = new List<ModelCard> { Base(engine, owner) };
                cards.AddRange(engine.Adapters.List().Select(a => new ModelCard(a.Name, a.CreatedUtc.ToUnixTimeSeconds(), owner, engine.BaseModel.Name, engine.BaseModel.Name)));
                return TypedResults.Json(new ModelList(cards), ServeJson.Context.ModelList);
            })
            .WithName("ListModels").WithTags("OpenAI")
            .WithSummary("Lists the base model and the registered adapters.");

        routes.MapGet("/models/{id}", (string id, EngineHost host, IOptionsSnapshot<ServerOptions> options) =>
            {
                var engine = host.Require();
                var owner = options.Value.OwnedBy;
                if (engine.IsBaseModelName(id)) return TypedResults.Json(Base(engine, owner) with { Id = id }, ServeJson.Context.ModelCard);
                var adapter = engine.Adapters.Find(id) ?? throw OpenAiException.ModelNotFound(id);
                return TypedResults.Json(new ModelCard(adapter.Name, adapter.CreatedUtc.ToUnixTimeSeconds(), owner, engine.BaseModel.Name, engine.BaseModel.Name), ServeJson.Context.ModelCard);
            })
            .WithName("RetrieveModel").WithTags("OpenAI")
            .Produces<OpenAiErrorResponse>(StatusCodes.Status404NotFound)
            .WithSummary("Describes one model: the base (by its name or \"base\") or an adapter.");
        return routes;
    }

    private static ModelCard Base(InferenceEngine engine, string owner) =>
        new(engine.BaseModel.Name, engine.BaseModel.CreatedUtc.ToUnixTimeSeconds(), owner, engine.BaseModel.Name, null);
}
