using System.Net;

namespace Serve.Server.Tests;

/// <summary>Health probes, Prometheus metrics and the OpenAPI document with its browsable UI.</summary>
[Collection(ServerCollection.Name)]
public sealed class OperationsTests(ServerFixture fixture)
{
    [Fact]
    public async Task Health_LiveAndReady_AreOpenAndHealthy()
    {
        using var anonymous = fixture.Server.Client();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("healthz/live")).StatusCode);
        var ready = await anonymous.GetAsync("healthz/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("Healthy", await ready.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Metrics_ShowEngineAndHttpMetrics()
    {
        using var client = fixture.Client();
        await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("b", "metrics please", 4))).JsonAsync();
        using var anonymous = fixture.Server.Client();
        var text = await anonymous.GetStringAsync("metrics");

        foreach (var name in new[]
        {
            "serve_engine_time_to_first_token_seconds_bucket{adapter=\"b\"",
            "serve_engine_time_per_output_token_seconds_count{adapter=\"b\"}",
            "serve_engine_batch_tokens_count",
            "serve_engine_batch_sequences_count",
            "serve_engine_step_duration_seconds_count",
            "serve_engine_generated_tokens_total{adapter=\"b\"}",
            "serve_engine_queue_depth",
            "serve_engine_adapters_loaded",
            "http_requests_received_total{code=\"200\",method=\"POST\"",
        })
        {
            Assert.Contains(name, text);
        }
    }

    [Fact]
    public async Task OpenApi_DescribesTheApi_AndScalarServesAUi()
    {
        using var anonymous = fixture.Server.Client();
        var document = await (await anonymous.GetAsync("openapi/v1.json")).JsonAsync();
        var paths = document.GetProperty("paths");
        foreach (var path in new[] { "/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/models/{id}", "/admin/adapters", "/admin/adapters/{name}/unload" })
            Assert.True(paths.TryGetProperty(path, out _), $"{path} missing from the OpenAPI document");
        var schemas = document.GetProperty("components").GetProperty("schemas");
        Assert.True(schemas.TryGetProperty("ChatCompletionRequest", out var request));
        Assert.True(request.GetProperty("properties").TryGetProperty("max_completion_tokens", out _));

        var ui = await anonymous.GetAsync("scalar");
        Assert.Equal(HttpStatusCode.OK, ui.StatusCode);
        Assert.Contains("text/html", ui.Content.Headers.ContentType?.ToString());
    }
}
