using Microsoft.Extensions.Options;
using Serve.Engine;
using Serve.Engine.Adapters;
using Serve.Server.Admin;
using Serve.Server.Hosting;
using Serve.Server.OpenAi;

namespace Serve.Server.Apis;

/// <summary>
/// vLLM's dynamic-LoRA endpoints, which LoRA-aware routers (the Inference Extension's adapter syncer, llm-d) call:
/// POST /v1/load_lora_adapter {"lora_name","lora_path"} registers and loads the GGUF at lora_path under lora_name;
/// POST /v1/unload_lora_adapter {"lora_name"} stops serving it (requests already running finish first). Success is
/// vLLM's plain-text 200; an adapter already there is a 400, an unknown one a 404. Both need the admin key
/// (<see cref="AdminKeyFilter"/>), and lora_path obeys the same import-directory lockdown as POST /admin/adapters.
/// </summary>
public static class LoraAdapterApi
{
    public const string LoadPath = "/v1/load_lora_adapter";
    public const string UnloadPath = "/v1/unload_lora_adapter";

    internal static IEndpointRouteBuilder MapLoraAdapterApi(this IEndpointRouteBuilder routes)
    {
        routes.MapPost(LoadPath, LoadAsync).AddEndpointFilter<AdminKeyFilter>().WithTags("Admin")
            .Accepts<LoadLoraAdapterRequest>("application/json")
            .WithSummary("vLLM-compatible: registers and loads the adapter file lora_path (inside Serve:AdapterImportDirectories) as lora_name.");
        routes.MapPost(UnloadPath, UnloadAsync).AddEndpointFilter<AdminKeyFilter>().WithTags("Admin")
            .Accepts<UnloadLoraAdapterRequest>("application/json")
            .WithSummary("vLLM-compatible: stops serving lora_name (running requests finish) and removes it.");
        return routes;
    }

    private static async Task<IResult> LoadAsync(HttpContext context, EngineHost host, IOptionsMonitor<ServerOptions> options)
    {
        var engine = host.Require();
        var cancellationToken = context.RequestAborted;
        var body = await JsonBodyReader.ReadAsync(context.Request, ServeJson.Context.LoadLoraAdapterRequest, cancellationToken).ConfigureAwait(false);
        if (string.IsNullOrWhiteSpace(body.LoraName) || string.IsNullOrWhiteSpace(body.LoraPath))
            throw OpenAiException.BadRequest("Both 'lora_name' and 'lora_path' must be provided.", string.IsNullOrWhiteSpace(body.LoraName) ? "lora_name" : "lora_path", "missing_required_parameter");
        if (engine.Adapters.Find(body.LoraName) is not null)
            throw OpenAiException.BadRequest($"The lora adapter '{body.LoraName}' has already been loaded.", "lora_name", "adapter_already_loaded");
        await using var source = AdapterImport.Open(body.LoraPath, options.CurrentValue);
        await engine.Adapters.RegisterAsync(body.LoraName, source, load: true, cancellationToken).ConfigureAwait(false);
        return Results.Text($"Success: LoRA adapter '{body.LoraName}' added successfully.", "text/plain");
    }

    private static async Task<IResult> UnloadAsync(HttpContext context, EngineHost host)
    {
        var engine = host.Require();
        var body = await JsonBodyReader.ReadAsync(context.Request, ServeJson.Context.UnloadLoraAdapterRequest, context.RequestAborted).ConfigureAwait(false);
        if (string.IsNullOrWhiteSpace(body.LoraName))
            throw OpenAiException.BadRequest("'lora_name' must be provided.", "lora_name", "missing_required_parameter");
        bool removed;
        try
        {
            removed = await engine.Adapters.RemoveAsync(body.LoraName, AdapterUnloadMode.Drain, context.RequestAborted).ConfigureAwait(false);
        }
        catch (AdapterNotFoundException)
        {
            removed = false;
        }
        if (!removed)
            throw new OpenAiException(404, $"The lora adapter '{body.LoraName}' cannot be found.", "not_found_error", "lora_name", "adapter_not_found");
        return Results.Text($"Success: LoRA adapter '{body.LoraName}' removed successfully.", "text/plain");
    }
}

/// <summary>vLLM's LoadLoRAAdapterRequest.</summary>
internal sealed class LoadLoraAdapterRequest
{
    public string? LoraName { get; set; }
    public string? LoraPath { get; set; }
    /// <summary>Accepted for vLLM compatibility; a name already there is refused either way.</summary>
    public bool? LoadInplace { get; set; }
}

/// <summary>vLLM's UnloadLoRAAdapterRequest (lora_int_id is accepted and ignored: names identify adapters here).</summary>
internal sealed class UnloadLoraAdapterRequest
{
    public string? LoraName { get; set; }
    public int? LoraIntId { get; set; }
}
