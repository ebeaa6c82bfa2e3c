using Serve.Server.Admin;
using Serve.Engine;
using Serve.Engine.Adapters;
using Serve.Redis.Registry;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;
using StackExchange.Redis;

namespace Serve.Server.Apis;

/// <summary>A version in the shared registry, as the admin API shows it.</summary>
internal sealed record PublishedAdapterView(string Name, string Version, string? BaseModelSha256, int Rank, float Alpha, long SizeBytes, DateTimeOffset Created, string Location);

/// <summary>The published adapters of the shared registry: name and current version of each.</summary>
internal sealed record PublishedAdapterListView(IReadOnlyList<PublishedAdapterView> Data);

/// <summary>
/// /admin/adapters/{name}/publish: puts a locally registered adapter (its GGUF bytes) into the shared Redis registry
/// and announces it, so every replica installs it within seconds (and replicas started later catch up); DELETE
/// unpublishes it everywhere. Needs Serve:Redis (409 without, 503 while Redis is unreachable).
/// </summary>
internal static class RegistryApi
{
    /// <summary>Maps the endpoints on the /admin group, which carries the admin key filter and the upload body limit.</summary>
    public static IEndpointRouteBuilder MapRegistryApi(this IEndpointRouteBuilder admin)
    {
        admin.MapPost("/adapters/{name}/publish", async (string name, SharedState state) =>
        {
            var sync = RequireSync(state);
            try
            {
                var record = await sync.PublishAsync(name).ConfigureAwait(false);
                return TypedResults.Json(View(record), ServeJson.Context.PublishedAdapterView);
            }
            catch (AdapterNotFoundException)
            {
                throw new OpenAiException(404, $"The adapter '{name}' is not registered on this replica.", OpenAiErrorTypes.InvalidRequest, "name", "adapter_not_found");
            }
            catch (InvalidOperationException e)
            {
                throw new OpenAiException(413, e.Message, OpenAiErrorTypes.InvalidRequest, "name", "adapter_too_large");
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                throw Unavailable(e);
            }
        }).Produces<PublishedAdapterView>().WithSummary("Publishes a registered adapter to the shared registry: every replica installs this version.");

        admin.MapDelete("/adapters/{name}/publish", async (string name, SharedState state) =>
        {
            RequireSync(state);
            var registry = state.Registry!;
            try
            {
                await registry.UnpublishAsync(name).ConfigureAwait(false);
                return Results.NoContent();
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                throw Unavailable(e);
            }
        }).WithSummary("Unpublishes an adapter: every replica that installed it from the registry removes it.");

        admin.MapGet("/registry", async (SharedState state) =>
        {
            RequireSync(state);
            var registry = state.Registry!;
            try
            {
                var list = new List<PublishedAdapterView>();
                foreach (var name in await registry.ListNamesAsync().ConfigureAwait(false))
                {
                    try
                    {
                        if (await registry.GetCurrentAsync(name).ConfigureAwait(false) is { } record) list.Add(View(record));
                    }
                    catch (RegistryDataException)
                    {
                        // Bad entries are logged by the sync; the listing shows the good ones.
                    }
                }
                return TypedResults.Json(new PublishedAdapterListView(list), ServeJson.Context.PublishedAdapterListView);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                throw Unavailable(e);
            }
        }).Produces<PublishedAdapterListView>().WithSummary("Lists the adapters published in the shared registry with their current versions.");
        return admin;
    }

    private static AdapterRegistrySync RequireSync(SharedState state)
    {
        if (state.Registry is null)
            throw new OpenAiException(409, "There is no shared registry on this server: set Serve:Redis (--redis) to publish adapters.", OpenAiErrorTypes.InvalidRequest, null, "registry_disabled");
        return state.Sync ?? throw new OpenAiException(503, "The model is still loading; retry shortly.", OpenAiErrorTypes.Server, null, "model_loading") { RetryAfterSeconds = 5 };
    }

    private static OpenAiException Unavailable(Exception e) =>
        new(503, "The shared registry (Redis) is unreachable: " + e.Message, OpenAiErrorTypes.Server, null, "registry_unavailable") { RetryAfterSeconds = 5 };

    private static PublishedAdapterView View(AdapterRecord r) => new(r.Name, r.Version, r.BaseModelSha256, r.Rank, r.Alpha, r.SizeBytes, r.CreatedUtc, r.Location);
}
