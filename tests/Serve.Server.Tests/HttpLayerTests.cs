using System.Net;

namespace Serve.Server.Tests;

/// <summary>
/// Which key guards what, now that the /v1 route group and the admin groups carry endpoint filters instead of
/// middlewares matching path strings: API keys on every /v1 endpoint and vLLM's root /tokenize and /detokenize, the
/// admin key (never an API key) on /admin and vLLM's adapter endpoints, nothing on health and metrics.
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

    private static Task<HttpResponseMessage> Send(HttpClient client, string method, string path) =>
        method == "GET" ? client.GetAsync(path) : client.PostJsonAsync(path, "{}");
}
