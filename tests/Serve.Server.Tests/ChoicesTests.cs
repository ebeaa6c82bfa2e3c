using System.Text.Json;

namespace Serve.Server.Tests;

/// <summary>
/// OpenAI's n over HTTP: n choices in one response (indices 0..n-1), streamed under their indices, usage with the
/// prompt counted once and the completions summed. The official .NET SDK does not send n, so these use raw HTTP.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ChoicesTests(ServerFixture fixture)
{
    [Fact]
    public async Task Chat_ThreeChoices_Greedy_AreEachTheSingleAnswer_WithSummedUsage()
    {
        using var client = fixture.Client();
        var single = await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("a", "Name a fruit.", 6))).JsonAsync();
        var three = await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("a", "Name a fruit.", 6, ",\"n\":3"))).JsonAsync();

        var expected = single.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
        var choices = three.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.All(choices, c => Assert.Equal(expected, c.GetProperty("message").GetProperty("content").GetString()));
        Assert.All(choices, c => Assert.Equal("length", c.GetProperty("finish_reason").GetString()));
        var usage = three.GetProperty("usage");
        var prompt = single.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        Assert.Equal(prompt, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(18, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(prompt + 18, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Chat_TwoChoices_Seeded_DifferAndRepeat()
    {
        using var client = fixture.Client();
        var body = Http.Chat("base", "Say something.", 8, ",\"n\":2").Replace("\"temperature\":0", "\"temperature\":1.5,\"seed\":11", StringComparison.Ordinal);
        string[] Texts(JsonElement r) => [.. r.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("message").GetProperty("content").GetString()!)];

        var first = Texts(await (await client.PostJsonAsync("v1/chat/completions", body)).JsonAsync());
        var again = Texts(await (await client.PostJsonAsync("v1/chat/completions", body)).JsonAsync());

        Assert.Equal(first, again); // each choice has its own seed (seed + index), so the pair repeats
        Assert.NotEqual(first[0], first[1]);
    }

    [Fact]
    public async Task ChatStream_TwoChoices_StreamUnderTheirIndices_UsageAfterTheLast()
    {
        using var client = fixture.Client();
        using var response = await client.PostJsonAsync("v1/chat/completions",
            Http.Chat("a", "Tell me about the market.", 7, ",\"n\":2,\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        var events = Http.SseData(await response.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();

        var usage = chunks[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(14, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var choices = chunks[..^1].Select(c => Assert.Single(c.GetProperty("choices").EnumerateArray())).ToList();
        Assert.Equal([0, 1], choices.Take(2).Select(c => c.GetProperty("index").GetInt32())); // a role chunk for each first
        Assert.All(choices.Take(2), c => Assert.Equal("assistant", c.GetProperty("delta").GetProperty("role").GetString()));
        Assert.Equal([0, 1], choices.Where(c => c.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
            .Select(c => c.GetProperty("index").GetInt32()).Order());

        using var whole = await client.PostJsonAsync("v1/chat/completions", Http.Chat("a", "Tell me about the market.", 7));
        var expected = (await whole.JsonAsync()).GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
        foreach (var index in new[] { 0, 1 })
        {
            var text = string.Concat(choices.Where(c => c.GetProperty("index").GetInt32() == index)
                .Select(c => c.GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : ""));
            Assert.Equal(expected, text);
        }
    }

    [Fact]
    public async Task Completions_TwoChoices_WithEchoAndLogprobs_EachHasItsOwn()
    {
        using var client = fixture.Client();
        var body = """{"model":"base","prompt":"The market opens at","max_tokens":5,"temperature":0,"n":2,"echo":true,"logprobs":1}""";
        var response = await (await client.PostJsonAsync("v1/completions", body)).JsonAsync();

        var choices = response.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.All(choices, c => Assert.StartsWith("The market opens at", c.GetProperty("text").GetString()));
        Assert.Equal(choices[0].GetProperty("text").GetString(), choices[1].GetProperty("text").GetString());
        Assert.All(choices, c => Assert.Equal(5, c.GetProperty("logprobs").GetProperty("tokens").GetArrayLength()));
        Assert.Equal(10, response.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task N_AboveTheEngineLimit_Is400WithParamN()
    {
        using var client = fixture.Client();
        var error = await (await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 4, ",\"n\":9"))).ErrorAsync(400);
        Assert.Equal("n", error.GetProperty("param").GetString());
    }
}
