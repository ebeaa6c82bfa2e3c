using System.Text.Json;

namespace Serve.Server.Tests;

/// <summary>Strict request fields: unknown ones are OpenAI's 400, other APIs' extensions are implemented or refused with a hint.</summary>
[Collection(ServerCollection.Name)]
public sealed class RequestFieldsTests(ServerFixture fixture)
{
    [Theory]
    [InlineData("v1/chat/completions", """{"model":"base","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"frobnicate":{"deep":[1]}}""")]
    [InlineData("v1/completions", """{"model":"base","prompt":"hi","max_tokens":2,"frobnicate":1}""")]
    public async Task UnknownField_Strict_400UnrecognizedArgumentAndTheServerKeepsServing(string path, string body)
    {
        var error = await (await fixture.Client().PostJsonAsync(path, body)).ErrorAsync(400);

        Assert.Equal("Unrecognized request argument supplied: frobnicate", error.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal("frobnicate", error.GetProperty("param").GetString());
        await (await fixture.Client().PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 2))).JsonAsync();
    }

    [Theory]
    [InlineData(""","guided_json":{"type":"object"}""", "guided_json", "response_format")]
    [InlineData(""","guided_choice":["a","b"]""", "guided_choice", "grammar")]
    [InlineData(""","n_predict":5""", "n_predict", "max_tokens")]
    [InlineData(""","store":true""", "store", "does not store")]
    [InlineData(""","modalities":["text","audio"]""", "modalities", "text")]
    public async Task OtherApisExtension_RefusedWithTheSupportedWay(string extra, string param, string hint)
    {
        var error = await (await fixture.Client().PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 2, extra))).ErrorAsync(400);
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Contains(hint, error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task KnownExtensions_Accepted()
    {
        var extra = ""","top_k":5,"min_p":0.05,"repetition_penalty":1.1,"ignore_eos":true,"user":"u","modalities":["text"]""";
        var json = await (await fixture.Client().PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 3, extra))).JsonAsync();
        Assert.Equal(3, json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task LlamaServerLora_IdsInModelsOrder_SameAsNamingTheAdapter()
    {
        var models = await (await fixture.Client().GetAsync("v1/models")).JsonAsync();
        var adapters = models.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).Where(id => id != fixture.BaseName && id != "base").ToList();
        var second = adapters[1];

        var viaLora = await (await fixture.Client().PostJsonAsync("v1/chat/completions",
            Http.Chat("base", "Tell me about the market.", 12, ""","lora":[{"id":0,"scale":0},{"id":1,"scale":1}]"""))).JsonAsync();
        var viaName = await (await fixture.Client().PostJsonAsync("v1/chat/completions", Http.Chat(second, "Tell me about the market.", 12))).JsonAsync();
        var viaBase = await (await fixture.Client().PostJsonAsync("v1/chat/completions", Http.Chat("base", "Tell me about the market.", 12))).JsonAsync();

        Assert.Equal(Text(viaName), Text(viaLora));
        Assert.NotEqual(Text(viaBase), Text(viaLora));

        var error = await (await fixture.Client().PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 2, ""","lora":[{"id":99}]"""))).ErrorAsync(400);
        Assert.Equal("lora[0].id", error.GetProperty("param").GetString());
    }

    private static string Text(JsonElement completion) => completion.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;

    [Fact]
    public async Task UnknownField_Lenient_Ignored()
    {
        await using var server = await TestServer.StartAsync(fixture.ModelPath, null, new Dictionary<string, string?> { ["Serve:StrictRequestFields"] = "false" });
        using var client = server.Client();
        var json = await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 2, ""","frobnicate":1"""))).JsonAsync();
        Assert.Equal("chat.completion", json.GetProperty("object").GetString());
        // Extensions that would change the answer are still refused.
        await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 2, ""","guided_json":{}"""))).ErrorAsync(400);
    }
}
