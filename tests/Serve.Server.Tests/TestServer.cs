using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serve.Engine;
using Serve.Server.Hosting;

namespace Serve.Server.Tests;

/// <summary>The real server (ServeApplication, real Kestrel on a free loopback port) over a real engine.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private TestServer(WebApplication app, Uri address, InferenceEngine engine)
    {
        App = app;
        Address = address;
        Engine = engine;
    }

    public WebApplication App { get; }
    public Uri Address { get; }
    public InferenceEngine Engine { get; }

    /// <summary>Starts a server with the given settings ("Serve:..." keys) and waits until the model is loaded.</summary>
    public static async Task<TestServer> StartAsync(string modelPath, string? adapters, IDictionary<string, string?>? settings = null)
    {
        var args = new List<string> { "--urls", "http://127.0.0.1:0", "--model", modelPath };
        if (adapters is not null) args.AddRange(["--adapters", adapters]);
        var defaults = new Dictionary<string, string?>
        {
            ["Serve:Engine:MaxSequences"] = "8",
            ["Serve:Engine:ContextPerSequence"] = "512",
            ["Serve:Engine:BatchSize"] = "512",
            ["Serve:Engine:PrefillChunk"] = "64",
            // One thread: on a shared 2-core machine, 2 ggml threads spin-wait on each other (256 tokens: 46 s vs 0.6 s).
            ["Serve:Engine:Threads"] = "1",
            // Exact arithmetic, so batched and lone requests agree token for token (isolation tests).
            ["Serve:Engine:FlashAttention"] = "Disabled",
            ["Serve:Engine:KvCacheType"] = "F32",
            // Tests repeat greedy requests to check the engine (isolation, cancellation): the response cache would answer them.
            ["Serve:Cache:Enabled"] = "false",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) defaults[key] = value;
        args.AddRange(defaults.Where(kv => kv.Value is not null).Select(kv => $"--{kv.Key}={kv.Value}"));

        var app = ServeApplication.Build([.. args], builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddFilter(_ => false);
        });
        await app.StartAsync();
        try
        {
            var engine = await app.Services.GetRequiredService<EngineHost>().Ready.WaitAsync(TimeSpan.FromSeconds(60));
            var address = new Uri(app.Urls.First().TrimEnd('/') + "/");
            return new TestServer(app, address, engine);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    public HttpClient Client(string? bearer = null)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(120) };
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
