using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Serve.Engine;
using Serve.Engine.Adapters;
using Serve.Server.Admin;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;

namespace Serve.Server.Apis;

/// <summary>
/// /admin: register adapters at run time (a file on the server, a multipart upload or a raw GGUF body), load,
/// unload (drain or abort), remove, pin and list them with their versions. Needs the admin key (AdminKeyFilter).
/// Refused files get a 400 with the engine's validation message.
/// </summary>
internal static class AdminApi
{
    /// <summary>Maps the endpoints on the /admin group, which carries the admin key filter and the upload body limit.</summary>
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder admin)
    {
        admin.MapGet("/adapters", (EngineHost host) =>
        {
            var engine = host.Require();
            return TypedResults.Json(new AdapterListView(engine.BaseModel.Name, engine.BaseModel.Sha256, [.. engine.Adapters.List().Select(View)]), ServeJson.Context.AdapterListView);
        }).WithSummary("Lists registered adapters with their versions.");

        admin.MapGet("/adapters/{name}", (string name, EngineHost host) =>
            TypedResults.Json(View(Find(host.Require(), name)), ServeJson.Context.AdapterView))
            .WithSummary("Describes one adapter.");

        admin.MapPost("/adapters", RegisterAsync)
            .Accepts<RegisterAdapterBody>("application/json", "multipart/form-data")
            .Produces<AdapterView>(StatusCodes.Status201Created)
            .WithSummary("Registers an adapter: JSON {name, path, load} for a file on the server, or multipart/form-data with a 'name' field and a 'file' part.");

        admin.MapPut("/adapters/{name}", UploadRawAsync)
            .Accepts<Stream>("application/octet-stream")
            .Produces<AdapterView>(StatusCodes.Status201Created)
            .WithSummary("Registers (or replaces) an adapter from the raw GGUF bytes of the body; ?load=false defers loading.");

        admin.MapPost("/adapters/{name}/load", async (string name, EngineHost host, CancellationToken ct) =>
            TypedResults.Json(View(await Call(() => host.Require().Adapters.LoadAsync(name, ct)).ConfigureAwait(false)), ServeJson.Context.AdapterView))
            .WithSummary("Loads an adapter into memory now.");

        admin.MapPost("/adapters/{name}/unload", async (string name, string? mode, EngineHost host, CancellationToken ct) =>
        {
            var engine = host.Require();
            await Call(() => engine.Adapters.UnloadAsync(name, Mode(mode), ct)).ConfigureAwait(false);
            return TypedResults.Json(View(Find(engine, name)), ServeJson.Context.AdapterView);
        }).WithSummary("Frees a loaded adapter: mode=drain (default) waits for its requests, mode=abort ends them with a 503.");

        admin.MapDelete("/adapters/{name}", async (string name, string? mode, EngineHost host, CancellationToken ct) =>
        {
            var removed = await Call(() => host.Require().Adapters.RemoveAsync(name, Mode(mode), ct)).ConfigureAwait(false);
            return removed ? Results.NoContent() : throw AdapterNotFound(name);
        }).WithSummary("Unregisters an adapter and deletes its file (mode=drain|abort as for unload).");

        admin.MapPut("/adapters/{name}/pin", (string name, EngineHost host) => Pin(host, name, true)).WithSummary("Pins an adapter: the LRU never evicts it.");
        admin.MapDelete("/adapters/{name}/pin", (string name, EngineHost host) => Pin(host, name, false)).WithSummary("Unpins an adapter.");

        admin.MapPost("/adapters/rescan", (EngineHost host) =>
        {
            var engine = host.Require();
            engine.Adapters.Rescan();
            return TypedResults.Json(new AdapterListView(engine.BaseModel.Name, engine.BaseModel.Sha256, [.. engine.Adapters.List().Select(View)]), ServeJson.Context.AdapterListView);
        }).WithSummary("Picks up adapter files added, changed or removed in the directory by hand.");

        admin.MapGet("/status", (EngineHost host) =>
        {
            var engine = host.Require();
            var s = engine.Status;
            return TypedResults.Json(new EngineStatusView(s.Ready, engine.BaseModel.Name, engine.BaseModel.Sha256, s.Running, s.Waiting, s.RunningPerAdapter,
                s.WaitingPerAdapter, s.LoadedAdapters, s.Steps, s.GeneratedTokens, s.PromptTokens, s.CachedPromptTokens, s.KvTokens, s.KvUsage, s.KvCapacityTokens), ServeJson.Context.EngineStatusView);
        }).WithSummary("The scheduler's state: running and waiting requests per adapter, loaded adapters, KV use.");
        return admin;
    }

    private static async Task<IResult> RegisterAsync(HttpContext context, EngineHost host)
    {
        var engine = host.Require();
        var request = context.Request;
        var cancellationToken = context.RequestAborted;
        if (MediaTypeHeaderValue.TryParse(request.ContentType, out var media) && media.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            return await UploadMultipartAsync(context, engine, media, cancellationToken).ConfigureAwait(false);

        var body = await JsonBodyReader.ReadAsync(request, ServeJson.Context.RegisterAdapterBody, cancellationToken).ConfigureAwait(false);
        if (string.IsNullOrWhiteSpace(body.Name)) throw OpenAiException.BadRequest("Missing required parameter: 'name'.", "name", "missing_required_parameter");
        if (string.IsNullOrWhiteSpace(body.Path)) throw OpenAiException.BadRequest("Missing required parameter: 'path' (a GGUF file on the server).", "path", "missing_required_parameter");
        // Only inside Serve:AdapterImportDirectories, size-limited, and copied on the request's token: a client that
        // leaves stops the copy.
        await using var source = AdapterImport.Open(body.Path, context.RequestServices.GetRequiredService<IOptionsMonitor<ServerOptions>>().CurrentValue);
        var info = await Call(() => engine.Adapters.RegisterAsync(body.Name, source, body.Load ?? true, cancellationToken)).ConfigureAwait(false);
        return Created(info);
    }

    private static async Task<IResult> UploadMultipartAsync(HttpContext context, InferenceEngine engine, MediaTypeHeaderValue media, CancellationToken cancellationToken)
    {
        var boundary = HeaderUtilities.RemoveQuotes(media.Boundary).Value;
        if (string.IsNullOrEmpty(boundary)) throw OpenAiException.BadRequest("The multipart body has no boundary.", "file", "invalid_value");
        var reader = new MultipartReader(boundary, context.Request.Body);
        string? name = context.Request.Query["name"];
        var load = !string.Equals(context.Request.Query["load"], "false", StringComparison.OrdinalIgnoreCase);
        // Fields before the file part set its name; the file streams straight into the engine (never buffered whole).
        while (await NextSectionAsync(reader, cancellationToken).ConfigureAwait(false) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)) continue;
            if (disposition.IsFileDisposition())
            {
                name ??= Path.GetFileNameWithoutExtension(HeaderUtilities.RemoveQuotes(disposition.FileName).Value);
                if (string.IsNullOrWhiteSpace(name)) throw OpenAiException.BadRequest("Give the adapter a 'name' field before the file part.", "name", "missing_required_parameter");
                await using var part = new MultipartPartStream(section.Body, cancellationToken);
                var info = await Call(() => engine.Adapters.RegisterAsync(name, part, load, cancellationToken)).ConfigureAwait(false);
                return Created(info);
            }
            var field = HeaderUtilities.RemoveQuotes(disposition.Name).Value;
            var value = await section.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (field == "name") name = value;
            else if (field == "load") load = !string.Equals(value, "false", StringComparison.OrdinalIgnoreCase);
        }
        throw OpenAiException.BadRequest("The multipart body has no file part.", "file", "missing_required_parameter");
    }

    /// <summary>MultipartReader reports a malformed body (bad preamble, missing boundary, header limits) as IO errors: a 400.</summary>
    private static async Task<MultipartSection?> NextSectionAsync(MultipartReader reader, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.ReadNextSectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidDataException or IOException and not BadHttpRequestException && !cancellationToken.IsCancellationRequested)
        {
            throw OpenAiException.BadRequest("The multipart body is malformed: " + e.Message, "file", "invalid_multipart");
        }
    }

    private static async Task<IResult> UploadRawAsync(string name, bool? load, HttpContext context, EngineHost host)
    {
        var engine = host.Require();
        if (context.Request.ContentLength == 0) throw OpenAiException.BadRequest("The body is empty: send the adapter's GGUF bytes.", "file", "invalid_value");
        var info = await Call(() => engine.Adapters.RegisterAsync(name, context.Request.Body, load ?? true, context.RequestAborted)).ConfigureAwait(false);
        return Created(info);
    }

    private static IResult Pin(EngineHost host, string name, bool pinned)
    {
        var engine = host.Require();
        try
        {
            engine.Adapters.SetPinned(name, pinned);
        }
        catch (AdapterNotFoundException)
        {
            throw AdapterNotFound(name);
        }
        return TypedResults.Json(View(Find(engine, name)), ServeJson.Context.AdapterView);
    }

    private static IResult Created(AdapterInfo info) =>
        TypedResults.Json(View(info), ServeJson.Context.AdapterView, statusCode: StatusCodes.Status201Created);

    /// <summary>Engine calls with admin wording: an unknown adapter is "adapter_not_found", not the /v1 model error.</summary>
    private static async Task<T> Call<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (AdapterNotFoundException e)
        {
            throw AdapterNotFound(e.Name);
        }
    }

    private static async Task Call(Func<Task> call) => await Call(async () => { await call().ConfigureAwait(false); return 0; }).ConfigureAwait(false);

    private static AdapterInfo Find(InferenceEngine engine, string name) => engine.Adapters.Find(name) ?? throw AdapterNotFound(name);

    private static OpenAiException AdapterNotFound(string name) =>
        new(404, $"The adapter '{name}' is not registered.", OpenAiErrorTypes.InvalidRequest, "name", "adapter_not_found");

    private static AdapterUnloadMode Mode(string? mode) => mode?.ToLowerInvariant() switch
    {
        null or "" or "drain" => AdapterUnloadMode.Drain,
        "abort" => AdapterUnloadMode.Abort,
        _ => throw OpenAiException.BadRequest($"Invalid value: '{mode}'. Supported values are: 'drain' and 'abort'.", "mode", "invalid_value"),
    };

    private static AdapterView View(AdapterInfo a) =>
        new(a.Name, a.Version, a.Rank, a.Alpha, a.Architecture, a.BaseModelSha256, a.SizeBytes, a.CreatedUtc, a.IsLoaded, a.IsPinned, a.ActiveSequences, a.Path, a.Metadata);
}
