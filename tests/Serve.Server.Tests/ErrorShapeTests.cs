using System.Net;
using System.Text;

namespace Serve.Server.Tests;

/// <summary>Bad input costs nothing: every case is a 4xx with an OpenAI-shaped error, and the server keeps answering.</summary>
[Collection(ServerCollection.Name)]
public sealed class ErrorShapeTests(ServerFixture fixture)
{
    public static TheoryData<string, string, int, string?> BadChatBodies => new()
    {
        // body, content type, status, param
        { "{\"model\":", "application/json", 400, null },
        { "not json at all", "application/json", 400, null },
        { "[1,2]", "application/json", 400, null },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "text/plain", 415, null },
        { "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "application/json", 400, "model" },
        { "{\"model\":\"base\"}", "application/json", 400, "messages" },
        { "{\"model\":\"base\",\"messages\":[]}", "application/json", 400, "messages" },
        { "{\"model\":\"base\",\"messages\":\"hi\"}", "application/json", 400, "messages" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":\"ten\"}", "application/json", 400, "max_tokens" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-5}", "application/json", 400, "max_tokens" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", "application/json", 400, "max_tokens" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1e30}", "application/json", 400, "max_tokens" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":2000000000}", "application/json", 400, "max_tokens" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":1000}", "application/json", 400, "messages" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":7}", "application/json", 400, "temperature" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", "application/json", 400, "temperature" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":0}", "application/json", 400, "top_p" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "application/json", 400, "messages[0].role" },
        { "{\"model\":\"base\",\"messages\":[{\"content\":\"x\"}]}", "application/json", 400, "messages[0].role" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":42}]}", "application/json", 400, "messages[0].content" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}", "application/json", 400, "messages[0].content[0].type" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":0}", "application/json", 400, "n" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":99}", "application/json", 400, "n" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":7}", "application/json", 400, "stop" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"\"]}", "application/json", 400, "stop" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"abc\":1}}", "application/json", 400, "logit_bias" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"999999\":1}}", "application/json", 400, "logit_bias" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":3}", "application/json", 400, "top_logprobs" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,\"top_logprobs\":50}", "application/json", 400, "top_logprobs" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":0}", "application/json", 400, "top_logprobs" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":0}", "application/json", 400, "max_completion_tokens" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"adapters\":[{\"scale\":0.5}]}", "application/json", 400, "adapters[0].name" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":{\"include_usage\":true}}", "application/json", 400, "stream_options" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"xml\"}}", "application/json", 400, "response_format.type" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}}", "application/json", 400, "response_format.json_schema.schema" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"string\",\"pattern\":\"a\"}}}}", "application/json", 400, "response_format.json_schema.schema" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"grammar\":\"root ::= (\"}", "application/json", 400, "grammar" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"adapters\":[{\"name\":\"a\",\"scale\":1000}]}", "application/json", 400, "adapters" },
        { "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"adapters\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", "application/json", 400, "adapters" },
    };

    [Theory]
    [MemberData(nameof(BadChatBodies))]
    public async Task ChatCompletions_BadInput_IsOpenAiShaped4xx(string body, string contentType, int status, string? param)
    {
        using var client = fixture.Client();
        using var response = await client.PostBytesAsync("v1/chat/completions", Encoding.UTF8.GetBytes(body), contentType);
        var error = await response.ErrorAsync(status);
        if (param is not null) Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        await ServerStillAnswers();
    }

    [Fact]
    public async Task ChatCompletions_UnknownModel_Is404ModelNotFound()
    {
        using var client = fixture.Client();
        using var response = await client.PostJsonAsync("v1/chat/completions", Http.Chat("nope", "hi"));
        var error = await response.ErrorAsync(404);
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Equal("model", error.GetProperty("param").GetString());

        using var viaExtension = await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", extra: ",\"adapters\":[{\"name\":\"ghost\"}]"));
        Assert.Equal("model_not_found", (await viaExtension.ErrorAsync(404)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task ChatCompletions_PromptLongerThanTheContext_IsContextLengthExceeded()
    {
        using var client = fixture.Client();
        using var response = await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", string.Join(' ', Enumerable.Repeat("market", 2000))));
        var error = await response.ErrorAsync(400);
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task ChatCompletions_InvalidUtf8_Is400()
    {
        using var client = fixture.Client();
        var body = Encoding.UTF8.GetBytes("{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"AB\"}]}");
        var at = Array.IndexOf(body, (byte)'A');
        body[at] = 0xFF;
        body[at + 1] = 0xFE;
        using var response = await client.PostBytesAsync("v1/chat/completions", body);
        await response.ErrorAsync(400);
        await ServerStillAnswers();
    }

    [Fact]
    public async Task ChatCompletions_TenMegabyteBody_Is413()
    {
        using var client = fixture.Client();
        var big = "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":\"" + new string('a', 10 * 1024 * 1024) + "\"}]}";
        // Expect: 100-continue lets the server refuse before the client sends 10 MB (otherwise the refusal races the upload).
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(big, Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        using var response = await client.SendAsync(request);
        await response.ErrorAsync(413);
        await ServerStillAnswers();
    }

    [Fact]
    public async Task ChatCompletions_OpenAisOwnOptionalFields_AreAccepted()
    {
        // Unknown fields are refused in strict mode (RequestFieldsTests); OpenAI's own harmless ones are not unknown.
        using var client = fixture.Client();
        using var response = await client.PostJsonAsync("v1/chat/completions",
            Http.Chat("base", "hi", 3, ",\"user\":\"u-1\",\"metadata\":{\"a\":\"b\"},\"store\":false,\"service_tier\":\"auto\""));
        var json = await response.JsonAsync();
        Assert.Equal("chat.completion", json.GetProperty("object").GetString());
    }

    [Fact]
    public async Task Auth_MissingOrWrongKey_Is401_AndAdminNeedsTheAdminKey()
    {
        using var anonymous = fixture.Server.Client();
        using var missing = await anonymous.GetAsync("v1/models");
        Assert.Equal("missing_api_key", (await missing.ErrorAsync(401)).GetProperty("code").GetString());
        Assert.Equal("Bearer", missing.Headers.WwwAuthenticate.Single().Scheme);

        using var wrong = fixture.Server.Client("sk-wrong");
        Assert.Equal("invalid_api_key", (await (await wrong.GetAsync("v1/models")).ErrorAsync(401)).GetProperty("code").GetString());

        using var user = fixture.Client();
        await (await user.GetAsync("admin/adapters")).ErrorAsync(401);
        using var admin = fixture.AdminClient();
        await (await admin.GetAsync("v1/models")).ErrorAsync(401); // keys are not interchangeable
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("admin/adapters")).StatusCode);
    }

    [Fact]
    public async Task Routing_UnknownUrlAndWrongMethod_AreOpenAiShaped()
    {
        using var client = fixture.Client();
        Assert.Equal("unknown_url", (await (await client.GetAsync("v1/does-not-exist")).ErrorAsync(404)).GetProperty("code").GetString());
        await (await client.DeleteAsync("v1/chat/completions")).ErrorAsync(405);
        await (await client.GetAsync("v1/completions")).ErrorAsync(405);
        using var admin = fixture.AdminClient();
        await (await admin.GetAsync("admin/nothing-here")).ErrorAsync(404);
    }

    [Fact]
    public async Task Completions_BadInput_IsOpenAiShaped4xx()
    {
        using var client = fixture.Client();
        await (await client.PostJsonAsync("v1/completions", "{\"model\":\"base\"}")).ErrorAsync(400);
        await (await client.PostJsonAsync("v1/completions", "{\"model\":\"base\",\"prompt\":[\"a\",\"b\"]}")).ErrorAsync(400);
        await (await client.PostJsonAsync("v1/completions", "{\"model\":\"base\",\"prompt\":[1,2,3]}")).ErrorAsync(400);
        await (await client.PostJsonAsync("v1/completions", "{\"model\":\"base\",\"prompt\":{\"text\":\"x\"}}")).ErrorAsync(400);
        // The engine's top_logprobs rule, reported under the completions API's name for it.
        var logprobs = await (await client.PostJsonAsync("v1/completions", "{\"model\":\"base\",\"prompt\":\"x\",\"logprobs\":99}")).ErrorAsync(400);
        Assert.Equal("logprobs", logprobs.GetProperty("param").GetString());
        Assert.Equal("logprobs must be between 0 and 20, got 99.", logprobs.GetProperty("message").GetString());
        await (await client.PostJsonAsync("v1/completions", "{\"model\":\"base\",\"prompt\":\"x\",\"suffix\":\"y\"}")).ErrorAsync(400);
        await (await client.PostJsonAsync("v1/completions", "{\"model\":\"zzz\",\"prompt\":\"x\"}")).ErrorAsync(404);
    }

    private async Task ServerStillAnswers()
    {
        using var client = fixture.Client();
        using var response = await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "still there?", 2));
        var json = await response.JsonAsync();
        Assert.Equal(2, json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }
}
