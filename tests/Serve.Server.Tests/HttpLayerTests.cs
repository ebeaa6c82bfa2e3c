using System.Net;

namespace Serve.Server.Tests;

/// <summary>
/// Which key guards what, now that the /v1 route group and the admin groups carry endpoint filters instead of
/// middlewares matching path strings: API keys on every /v1 endpoint and vLLM's root /tokenize and /detokenize, the
/// admin key (never an API key) on /admin and vLLM's adapter endpoints, nothing on health and metrics; body size
/// limits from the same groups; and one tokenization per request on the way from HTTP to the engine.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class HttpLayerTests(ServerFixture fixture)
{
    public static TheoryData<string, string> ApiEndpoints => new()
    {
        { "GET", "v1/models" },
        { "GET", "v1/models/base" },
        { "POST", "v1/chat/completions" },
        { "POST", "v1/completions" },
        { "POST", "v1/tokenize" },
        { "POST", "v1/detokenize" },
        { "POST", "tokenize" },
        { "POST", "detokenize" },
    };

    [Theory]
    [MemberData(nameof(ApiEndpoints))]
    public async Task ApiEndpoints_NeedAnApiKey_AndRefuseTheAdminKey(string method, string path)
    {
        using var anonymous = fixture.Server.Client();
        using var admin = fixture.AdminClient();
        using var user = fixture.Client();
        Assert.Equal("missing_api_key", (await (await Send(anonymous, method, path)).ErrorAsync(401)).GetProperty("code").GetString());
        Assert.Equal("invalid_api_key", (await (await Send(admin, method, path)).ErrorAsync(401)).GetProperty("code").GetString());
        using var allowed = await Send(user, method, path);
        Assert.NotEqual(HttpStatusCode.Unauthorized, allowed.StatusCode);
    }

    [Theory]
    [InlineData("GET", "admin/adapters")]
    [InlineData("POST", "v1/load_lora_adapter")]
    public async Task AdminEndpoints_NeedTheAdminKey_NotAnApiKey(string method, string path)
    {
        using var user = fixture.Client();
        Assert.Equal("invalid_api_key", (await (await Send(user, method, path)).ErrorAsync(401)).GetProperty("code").GetString());
        using var admin = fixture.AdminClient();
        using var allowed = await Send(admin, method, path);
        Assert.NotEqual(HttpStatusCode.Unauthorized, allowed.StatusCode);
    }

    [Theory]
    [InlineData("healthz/live")]
    [InlineData("metrics")]
    public async Task ProbesAndMetrics_AreOpen(string path)
    {
        using var anonymous = fixture.Server.Client();
        using var response = await anonymous.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task BodyLimits_ComeWithTheEndpointGroups_SmallForJsonApis_LargeForAdminUploads()
    {
        // 3 MB: over Serve:MaxRequestBodyBytes (2 MB), so over every JSON endpoint's limit, but far under /admin's.
        var body = new byte[3 << 20];
        using var user = fixture.Client();
        using var admin = fixture.AdminClient();
        foreach (var (client, path) in new[] { (user, "v1/chat/completions"), (user, "tokenize"), (admin, "v1/load_lora_adapter") })
        {
            using var refused = await SendBody(client, HttpMethod.Post, path, body, "application/json");
            Assert.Equal("request_too_large", (await refused.ErrorAsync(413)).GetProperty("code").GetString());
        }
        // The same bytes as an adapter upload are read, and refused for what they are (not a GGUF file), not for their size.
        using var upload = await SendBody(admin, HttpMethod.Put, "admin/adapters/three-megabytes", body, "application/octet-stream");
        Assert.Equal("invalid_adapter", (await upload.ErrorAsync(400)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task EveryGenerationAndTokenizeRequest_TokenizesItsPromptOnce_EvenUnderAServerPromptLimit()
    {
        // Serve:MaxPromptTokens needs the prompt's token count before generating: the engine's prepared request carries
        // it, and the engine generates from those tokens instead of tokenizing the prompt again.
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null, new Dictionary<string, string?> { ["Serve:MaxPromptTokens"] = "40" });
        using var client = server.Client();

        var chat = await Tokenizations(server, async () =>
        {
            var json = await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "Tell me about the market.", 2))).JsonAsync();
            Assert.InRange(json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), 2, 40);
        });
        var streamedChoices = await Tokenizations(server, async () =>
        {
            using var response = await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "Tell me about the market.", 2, ",\"n\":2,\"stream\":true"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.EndsWith("data: [DONE]\n\n", await response.Content.ReadAsStringAsync());
        });
        var completion = await Tokenizations(server, async () =>
            await (await client.PostJsonAsync("v1/completions", "{\"model\":\"base\",\"prompt\":\"The market opens at\",\"max_tokens\":2}")).JsonAsync());
        var tokenize = await Tokenizations(server, async () =>
            await (await client.PostJsonAsync("tokenize", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")).JsonAsync());
        var overTheLimit = await Tokenizations(server, async () =>
        {
            var error = await (await client.PostJsonAsync("v1/completions", $"{{\"model\":\"base\",\"prompt\":\"{string.Join(' ', Enumerable.Repeat("market", 60))}\"}}")).ErrorAsync(400);
            Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        });
        // Refused by a cheap rule (n), a request is not tokenized at all.
        var refused = await Tokenizations(server, async () =>
            Assert.Equal("n", (await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 2, ",\"n\":0"))).ErrorAsync(400)).GetProperty("param").GetString()));

        Assert.Equal([1, 1, 1, 1, 1, 0], new[] { chat, streamedChoices, completion, tokenize, overTheLimit, refused });
    }

    private static async Task<long> Tokenizations(TestServer server, Func<Task> request)
    {
        var before = server.Engine.Tokenizations;
        await request();
        return server.Engine.Tokenizations - before;
    }

    private static Task<HttpResponseMessage> SendBody(HttpClient client, HttpMethod method, string path, byte[] body, string contentType)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        // Expect: 100-continue lets the server refuse before the client sends the body (otherwise the refusal races the upload).
        var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.ExpectContinue = true;
        return client.SendAsync(request);
    }

    private static Task<HttpResponseMessage> Send(HttpClient client, string method, string path) =>
        method == "GET" ? client.GetAsync(path) : client.PostJsonAsync(path, "{}");
}
