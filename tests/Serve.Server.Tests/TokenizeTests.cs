using System.Text.Json;

namespace Serve.Server.Tests;

/// <summary>vLLM's /tokenize and /detokenize: the same template and tokenizer as a chat request.</summary>
[Collection(ServerCollection.Name)]
public sealed class TokenizeTests(ServerFixture fixture)
{
    [Fact]
    public async Task Tokenize_Messages_CountIsTheChatRequestsPromptTokens()
    {
        var json = await (await fixture.Client().PostJsonAsync("tokenize",
            """{"model":"a","messages":[{"role":"user","content":"Tell me about the market."}]}""")).JsonAsync();
        var chat = await (await fixture.Client().PostJsonAsync("v1/chat/completions", Http.Chat("a", "Tell me about the market.", 1))).JsonAsync();

        Assert.Equal(chat.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), json.GetProperty("count").GetInt32());
        Assert.Equal(json.GetProperty("count").GetInt32(), json.GetProperty("tokens").GetArrayLength());
        Assert.Equal(512, json.GetProperty("max_model_len").GetInt32());
    }

    [Fact]
    public async Task TokenizeThenDetokenize_GivesTheTemplateText()
    {
        var tokens = await (await fixture.Client().PostJsonAsync("v1/tokenize",
            """{"model":"base","messages":[{"role":"user","content":"hi"}],"add_special_tokens":false}""")).JsonAsync();
        var ids = tokens.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();

        var text = await (await fixture.Client().PostJsonAsync("detokenize", JsonSerializer.Serialize(new { model = "base", tokens = ids }))).JsonAsync();

        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", text.GetProperty("prompt").GetString());
    }

    [Fact]
    public async Task Tokenize_Prompt_AddsBosOnlyWhenAsked()
    {
        var with = await (await fixture.Client().PostJsonAsync("tokenize", """{"prompt":"hello"}""")).JsonAsync();
        var without = await (await fixture.Client().PostJsonAsync("tokenize", """{"prompt":"hello","add_special_tokens":false}""")).JsonAsync();
        Assert.Equal(without.GetProperty("count").GetInt32() + 1, with.GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task BadInput_400()
    {
        Assert.Equal("tokens", (await (await fixture.Client().PostJsonAsync("detokenize", """{"tokens":[99999999]}""")).ErrorAsync(400)).GetProperty("param").GetString());
        Assert.Equal("model_not_found", (await (await fixture.Client().PostJsonAsync("tokenize", """{"model":"nope","prompt":"x"}""")).ErrorAsync(404)).GetProperty("code").GetString());
        Assert.Equal("frob", (await (await fixture.Client().PostJsonAsync("tokenize", """{"prompt":"x","frob":1}""")).ErrorAsync(400)).GetProperty("param").GetString());
        await (await fixture.Server.Client().PostJsonAsync("tokenize", """{"prompt":"x"}""")).ErrorAsync(401);
    }
}
