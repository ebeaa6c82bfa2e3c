using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Serve.Gateway.Tests.Infrastructure;

/// <summary>
/// A stand-in replica on real loopback Kestrel, for tests about the gateway itself (not about generation):
/// /v1/echo answers its name and the SHA-256 of the body it got; /v1/stream sends one SSE event, then waits for
/// <see cref="ReleaseStream"/>; /healthz/ready follows <see cref="Ready"/>.
/// </summary>
public sealed class FakeReplica : IAsyncDisposable
{
    private readonly WebApplication _app;
    private TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _requests;

    private FakeReplica(WebApplication app, string name)
    {
        _app = app;
        Name = name;
    }

    public string Name { get; }
    public Uri Address { get; private set; } = null!;
    public volatile bool Ready = true;
    public int Requests => Volatile.Read(ref _requests);

    public void ReleaseStream() => _release.TrySetResult();

    public static async Task<FakeReplica> StartAsync(string name, Action<WebApplicationBuilder>? configure = null, int port = 0)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = Path.GetTempPath() });
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        configure?.Invoke(builder);
        var app = builder.Build();
        var replica = new FakeReplica(app, name);
        app.MapGet("/healthz/ready", () => replica.Ready ? Results.Ok("ready") : Results.StatusCode(503));
        app.MapGet("/v1/models", () => Results.Json(new { replica = name }));
        app.MapPost("/v1/echo", async (HttpContext context) =>
        {
            Interlocked.Increment(ref replica._requests);
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            return Results.Json(new { replica = name, length = body.Length, sha256 = Convert.ToHexString(SHA256.HashData(body.ToArray())) });
        });
        app.MapPost("/v1/stream", async (HttpContext context) =>
        {
            Interlocked.Increment(ref replica._requests);
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: first\n\n");
            await context.Response.Body.FlushAsync();
            await replica._release.Task.WaitAsync(TimeSpan.FromSeconds(30));
            replica._release = new(TaskCreationOptions.RunContinuationsAsynchronously);
            await context.Response.WriteAsync("data: [DONE]\n\n");
        });
        await app.StartAsync();
        replica.Address = new Uri(app.Urls.First());
        return replica;
    }

    public async ValueTask DisposeAsync()
    {
        ReleaseStream();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
