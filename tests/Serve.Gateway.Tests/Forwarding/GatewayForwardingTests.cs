using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Serve.Gateway.LoadBalancing;
using Serve.Gateway.Metrics;
using Serve.Gateway.Tests.Infrastructure;

namespace Serve.Gateway.Tests.Forwarding;

/// <summary>The gateway over stand-in replicas on loopback: what it does with bodies, failures, streams and errors.</summary>
public sealed class GatewayForwardingTests
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _));
        return error;
    }

    /// <summary>A model name whose first-ranked replica is wanted among ids.</summary>
    private static string ModelHomedOn(string wanted, string[] ids) =>
        Enumerable.Range(0, 1000).Select(i => $"adapter-{i}").First(m => ids[RendezvousHash.Rank(m, ids)[0]] == wanted);

    [Fact]
    public async Task Forward_SameModel_SameReplica_BodyUnchanged()
    {
        await using var r1 = await FakeReplica.StartAsync("r1");
        await using var r2 = await FakeReplica.StartAsync("r2");
        await using var r3 = await FakeReplica.StartAsync("r3");
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri> { ["r1"] = r1.Address, ["r2"] = r2.Address, ["r3"] = r3.Address });
        using var client = gateway.Client();
        string[] ids = ["r1", "r2", "r3"];

        foreach (var model in new[] { "a", "b", "c", "d", "e", "f" })
        {
            var home = ids[RendezvousHash.Rank(model, ids)[0]];
            for (var i = 0; i < 5; i++)
            {
                var body = $$"""{"model":"{{model}}","messages":[{"role":"user","content":"hello {{i}} ünïcode"}]}""";
                using var response = await client.PostAsync("/v1/echo", Json(body));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var echo = await response.Content.ReadFromJsonAsync<JsonElement>();
                Assert.Equal(home, echo.GetProperty("replica").GetString());
                Assert.Equal(home, response.Headers.GetValues("x-serve-replica").Single());
                Assert.Equal(Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(body))), echo.GetProperty("sha256").GetString());
            }
        }
        Assert.Equal(30, ids.Sum(id => gateway.Metrics.RoutedCount(id, RoutingDecisions.Home)));
    }

    [Fact]
    public async Task Forward_ChunkedBody_IsBufferedAndForwardedWhole()
    {
        await using var r1 = await FakeReplica.StartAsync("r1");
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri> { ["r1"] = r1.Address });
        using var client = gateway.Client();
        var body = Encoding.UTF8.GetBytes("""{"model":"a","prompt":"chunked"}""");
        using var content = new StreamContent(new MemoryStream(body));
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/echo") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await client.SendAsync(request);
        var echo = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(body.Length, echo.GetProperty("length").GetInt32());
        Assert.Equal(Convert.ToHexString(SHA256.HashData(body)), echo.GetProperty("sha256").GetString());
    }

    [Fact]
    public async Task Forward_HomeReplicaRefusesConnections_RetriedOnNext_AndCounted()
    {
        await using var r2 = await FakeReplica.StartAsync("r2");
        await using var r3 = await FakeReplica.StartAsync("r3");
        var deadPort = Ports.Free(); // nothing listens here: connection refused
        string[] ids = ["dead", "r2", "r3"];
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri>
        {
            ["dead"] = new($"http://127.0.0.1:{deadPort}"), ["r2"] = r2.Address, ["r3"] = r3.Address,
        }, new Dictionary<string, string?> { ["ReverseProxy:Clusters:replicas:HealthCheck:Active:Enabled"] = "false" });
        using var client = gateway.Client();
        var model = ModelHomedOn("dead", ids);
        var second = ids[RendezvousHash.Rank(model, ids)[1]];

        using var response = await client.PostAsync("/v1/echo", Json($$"""{"model":"{{model}}"}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(second, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("replica").GetString());
        Assert.Equal(1, gateway.Metrics.RetryCount("dead"));
        Assert.Equal(1, gateway.Metrics.RoutedCount(second, RoutingDecisions.Retry));
    }

    [Fact]
    public async Task Forward_NoReplicaReachable_502_OpenAiShaped()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri>
        {
            ["dead1"] = new($"http://127.0.0.1:{Ports.Free()}"), ["dead2"] = new($"http://127.0.0.1:{Ports.Free()}"),
        }, new Dictionary<string, string?> { ["ReverseProxy:Clusters:replicas:HealthCheck:Active:Enabled"] = "false" });
        using var client = gateway.Client();
        using var response = await client.PostAsync("/v1/echo", Json("""{"model":"a"}"""));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.Equal("upstream_unreachable", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Forward_NoHealthyReplica_503_OpenAiShaped_AndNotReady()
    {
        await using var r1 = await FakeReplica.StartAsync("r1");
        r1.Ready = false;
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri> { ["r1"] = r1.Address });
        using var client = gateway.Client();
        // The first active probe (at start, then every second) marks r1 unhealthy.
        HttpResponseMessage? response = null;
        for (var i = 0; i < 50 && response?.StatusCode != HttpStatusCode.ServiceUnavailable; i++)
        {
            response?.Dispose();
            await Task.Delay(100);
            response = await client.PostAsync("/v1/echo", Json("""{"model":"a"}"""));
        }
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response!.StatusCode);
        Assert.Equal("no_healthy_replica", (await ErrorOf(response)).GetProperty("code").GetString());
        response.Dispose();
        using var ready = await client.GetAsync("/healthz/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);

        r1.Ready = true;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        HttpStatusCode status;
        do
        {
            await Task.Delay(100);
            using var again = await client.PostAsync("/v1/echo", Json("""{"model":"a"}"""));
            status = again.StatusCode;
        }
        while (status != HttpStatusCode.OK && clock.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public async Task Forward_UnhealthyReplica_TrafficMovesToTheOthers()
    {
        await using var r1 = await FakeReplica.StartAsync("r1");
        await using var r2 = await FakeReplica.StartAsync("r2");
        string[] ids = ["r1", "r2"];
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri> { ["r1"] = r1.Address, ["r2"] = r2.Address });
        using var client = gateway.Client();
        var model = ModelHomedOn("r1", ids);
        r1.Ready = false;
        await Task.Delay(2500); // two probe intervals
        var before = r1.Requests;
        for (var i = 0; i < 10; i++)
        {
            using var response = await client.PostAsync("/v1/echo", Json($$"""{"model":"{{model}}"}"""));
            Assert.Equal("r2", response.Headers.GetValues("x-serve-replica").Single());
        }
        Assert.Equal(before, r1.Requests);
    }

    [Fact]
    public async Task Forward_BadJson_400_TooLarge_413_UnknownPath_404()
    {
        await using var r1 = await FakeReplica.StartAsync("r1");
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri> { ["r1"] = r1.Address },
            new Dictionary<string, string?> { ["Gateway:MaxRequestBodyBytes"] = "4096" });
        using var client = gateway.Client();

        using (var response = await client.PostAsync("/v1/echo", Json("""{"model": "a",""")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var error = await ErrorOf(response);
            Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
            Assert.Equal("invalid_json", error.GetProperty("code").GetString());
        }

        var big = $$"""{"model":"a","prompt":"{{new string('x', 5000)}}"}""";
        using (var response = await client.PostAsync("/v1/echo", Json(big)))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
            Assert.Equal("request_too_large", (await ErrorOf(response)).GetProperty("code").GetString());
        }

        // Chunked, so the limit is found while reading, not from Content-Length.
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/echo") { Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big))) })
        {
            request.Headers.TransferEncodingChunked = true;
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        }

        using (var response = await client.GetAsync("/nope"))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("unknown_url", (await ErrorOf(response)).GetProperty("code").GetString());
        }
        Assert.Equal(0, r1.Requests);
    }

    [Fact]
    public async Task Forward_Sse_FirstEventArrivesBeforeTheReplicaFinishes()
    {
        await using var r1 = await FakeReplica.StartAsync("r1");
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri> { ["r1"] = r1.Address });
        using var client = gateway.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/stream") { Content = Json("""{"model":"a","stream":true}""") };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        // The replica holds the rest of the stream until this line arrives; a buffering proxy would hang here.
        var first = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("data: first", first);
        r1.ReleaseStream();
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("data: [DONE]", rest);
    }

    [Fact]
    public async Task Metrics_ExposeRoutingRetriesAndHealth()
    {
        await using var r1 = await FakeReplica.StartAsync("r1");
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, Uri> { ["r1"] = r1.Address });
        using var client = gateway.Client();
        using (await client.PostAsync("/v1/echo", Json("""{"model":"a"}"""))) { }
        using (await client.GetAsync("/v1/models")) { }
        using (await client.PostAsync("/v1/echo", Json("{"))) { }
        var text = await client.GetStringAsync("/metrics");
        Assert.Contains("serve_gateway_routed_total{replica=\"r1\",decision=\"home\"} 1", text);
        Assert.Contains("serve_gateway_routed_total{replica=\"r1\",decision=\"unkeyed\"} 1", text);
        Assert.Contains("serve_gateway_affinity_hit_ratio 1", text);
        Assert.Contains("serve_gateway_replicas{cluster=\"replicas\",state=\"total\"} 1", text);
        Assert.Contains("serve_gateway_retries_total", text);
        Assert.Contains("serve_gateway_spills_total", text);
        using var live = await client.GetAsync("/healthz/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }
}
