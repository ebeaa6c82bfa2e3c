using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Prometheus;
using Scalar.AspNetCore;
using Serve.Cluster;
using Serve.Server.Admin;
using Serve.Server.Apis;
using Serve.Server.Caching;
using Serve.Server.OpenAi;

namespace Serve.Server.Hosting;

/// <summary>
/// Builds the server: configuration (appsettings, environment, command line with --model/--adapters), options,
/// the engine host, middleware and endpoints. Program.cs and the tests both start it through here.
/// </summary>
public static class ServeApplication
{
    /// <summary>Short command-line switches for the settings people set most.</summary>
    private static readonly Dictionary<string, string> Switches = new(StringComparer.Ordinal)
    {
        ["--model"] = "Serve:Engine:Model",
        ["--model-name"] = "Serve:Engine:ModelName",
        ["--adapters"] = "Serve:Engine:Adapters",
        ["--chat-template"] = "Serve:Engine:ChatTemplate",
        ["--api-key"] = "Serve:ApiKeys:0",
        ["--admin-key"] = "Serve:AdminKey",
        ["--redis"] = "Serve:Redis",
    };

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        // The content root is the working directory (relative --model/--adapters paths mean what the user typed), so
        // the appsettings.json shipped beside the binary is read too, below everything else: run from anywhere, the
        // server keeps its defaults (address, log levels).
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource
        {
            Path = "appsettings.json", Optional = true, ReloadOnChange = false,
            FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(AppContext.BaseDirectory),
        });
        builder.Configuration.AddCommandLine(args, Switches);
        configure?.Invoke(builder);
        // Requests Kestrel refuses itself (414, 431, a %00 target) get OpenAI-shaped bodies too.
        builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(l => l.Use(KestrelRejectionBodies.Use)));

        var services = builder.Services;
        services.AddOptions<ServerOptions>().BindConfiguration(ServerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        // Unknown engine keys are refused (a typo, or a removed setting such as AdapterBatching), never silently ignored.
        services.AddOptions<EngineSettings>().BindConfiguration(EngineSettings.Section, b => b.ErrorOnUnknownConfiguration = true).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<EngineSettingsValidation>();
        services.AddSingleton<IPostConfigureOptions<EngineSettings>>(sp => sp.GetRequiredService<EngineSettingsValidation>());
        services.AddSingleton<IValidateOptions<EngineSettings>>(sp => sp.GetRequiredService<EngineSettingsValidation>());

        services.AddSingleton<EngineHost>();
        services.AddSingleton<RequestBodyLimits>();
        // Endpoints without a limit of their own (RequestBodyLimits) get the JSON APIs' configured one.
        services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>()
            .Configure<IOptions<ServerOptions>>((kestrel, server) => kestrel.Limits.MaxRequestBodySize = server.Value.MaxRequestBodyBytes);
        services.AddSingleton<ModelServerMetrics>(sp => new ModelServerMetrics(sp.GetRequiredService<EngineHost>()));
        services.AddHostedService(sp => sp.GetRequiredService<EngineHost>());
        services.AddOptions<SharedStateOptions>().BindConfiguration(SharedStateOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ResponseCacheOptions>().BindConfiguration(ResponseCacheOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<SharedState>();
        services.AddSingleton<IRedisConnectionSource>(sp => sp.GetRequiredService<SharedState>());
        services.AddSingleton<ResponseCaching>();
        services.AddHostedService<SharedStateService>();
        // The gateway heartbeat goes to the shared Redis unless Serve:Cluster:Redis names another.
        services.AddReplicaHeartbeat();
        services.PostConfigure<ClusterOptions>(o => o.Redis ??= builder.Configuration[SharedStateOptions.Section + ":Redis"]);
        services.AddHealthChecks()
            .AddCheck<EngineReadyHealthCheck>("engine", tags: ["ready"])
            .AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);
        // The OpenAPI document describes bodies with these options: the same snake_case, strict numbers as the wire.
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
            o.SerializerOptions.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ServeJson.Context);
        });
        services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Serve: OpenAI-compatible LoRA serving";
            document.Info.Description = "The OpenAI chat/completions/models API, where model names an adapter, plus the admin API for adapters.";
            return Task.CompletedTask;
        }));
        PrometheusSetup.ConfigureOnce();

        var app = builder.Build();
        app.UseHttpMetrics();
        app.UseStatusCodePages(StatusCodeErrors.WriteAsync);
        app.UseMiddleware<OpenAiErrorMiddleware>();

        // Keys, limits and body sizes are endpoint filters and metadata on the route groups, not path matching.
        var limits = app.Services.GetRequiredService<RequestBodyLimits>();
        // The OpenAI API: API keys, then rate limits.
        var v1 = app.MapGroup("/v1").WithMetadata(limits.Json).AddEndpointFilter<ApiKeyFilter>().AddEndpointFilter<RateLimitFilter>();
        v1.MapChatCompletionsApi();
        v1.MapCompletionsApi();
        v1.MapModelsApi();
        v1.MapTokenizeApi("V1");
        // vLLM also serves /tokenize and /detokenize beside /v1, behind the same keys.
        app.MapGroup("").WithMetadata(limits.Json).AddEndpointFilter<ApiKeyFilter>().MapTokenizeApi();
        // The admin API: the admin key, and bodies up to an adapter file's size.
        var admin = app.MapGroup("/admin").WithTags("Admin").WithMetadata(limits.AdapterUpload).AddEndpointFilter<AdminKeyFilter>();
        admin.MapAdminApi();
        admin.MapRegistryApi();
        // vLLM's adapter endpoints under /v1 take the admin key (a filter of their own) and JSON bodies.
        app.MapGroup("").WithMetadata(limits.Json).MapLoraAdapterApi();
        app.MapHealthChecks("/healthz/live", new HealthCheckOptions { Predicate = _ => false }).ExcludeFromDescription();
        app.MapHealthChecks("/healthz/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") }).ExcludeFromDescription();
        // prometheus-net's registry plus the model-server protocol's vllm:* metrics (ModelServerMetrics).
        app.MapGet("/metrics", ModelServerMetrics.WriteAsync).ExcludeFromDescription();
        app.MapOpenApi();
        app.MapScalarApiReference(o => o.WithTitle("Serve API"));
        app.MapGet("/", () => Results.Redirect("/scalar")).ExcludeFromDescription();
        // Unknown URLs (404) and wrong methods (405) get OpenAI-shaped bodies from StatusCodeErrors.
        return app;
    }
}
