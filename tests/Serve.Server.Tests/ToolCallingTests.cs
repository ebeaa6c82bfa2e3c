using System.Text.Json;

namespace Serve.Server.Tests;

/// <summary>
/// Tool calling over raw HTTP on the test model (random weights): the grammar built from each tool's schema makes
/// every call parse and match its schema whatever the weights; responses and streamed deltas have OpenAI's shape;
/// bad tool requests get a 400 each and the server keeps serving.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ToolCallingTests(ServerFixture fixture)
{
    private const string Weather = """{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Oslo","Lima"]}},"required":["city"]}}}""";
    private const string Time = """{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"integer"}},"required":["zone"]}}}""";

    private string Body(string extra, bool stream = false, int maxTokens = 120) =>
        $$"""{"model":"base","messages":[{"role":"user","content":"Weather?"}],"max_tokens":{{maxTokens}},"temperature":0,"stream":{{(stream ? "true" : "false")}},"tools":[{{Weather}},{{Time}}]{{extra}}}""";

    [Fact]
    public async Task Required_ReturnsToolCallsMatchingTheSchema()
    {
        var json = await (await fixture.Client().PostJsonAsync("/v1/chat/completions", Body(""","tool_choice":"required","parallel_tool_calls":false"""))).JsonAsync();

        var choice = json.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var message = choice.GetProperty("message");
        Assert.Equal(JsonValueKind.Null, message.GetProperty("content").ValueKind);
        var call = Assert.Single(message.GetProperty("tool_calls").EnumerateArray());
        Assert.StartsWith("call_", call.GetProperty("id").GetString());
        Assert.Equal("function", call.GetProperty("type").GetString());
        var name = call.GetProperty("function").GetProperty("name").GetString();
        using var arguments = JsonDocument.Parse(call.GetProperty("function").GetProperty("arguments").GetString()!);
        if (name == "get_weather") Assert.Contains(arguments.RootElement.GetProperty("city").GetString(), new[] { "Paris", "Oslo", "Lima" });
        else
        {
            Assert.Equal("get_time", name);
            Assert.Equal(JsonValueKind.Number, arguments.RootElement.GetProperty("zone").ValueKind);
        }
    }

    [Fact]
    public async Task Named_CallsThatFunction()
    {
        var json = await (await fixture.Client().PostJsonAsync("/v1/chat/completions", Body(""","tool_choice":{"type":"function","function":{"name":"get_time"}}"""))).JsonAsync();

        var choice = json.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var call = Assert.Single(choice.GetProperty("message").GetProperty("tool_calls").EnumerateArray());
        Assert.Equal("get_time", call.GetProperty("function").GetProperty("name").GetString());
        using var arguments = JsonDocument.Parse(call.GetProperty("function").GetProperty("arguments").GetString()!);
        Assert.Equal(JsonValueKind.Number, arguments.RootElement.GetProperty("zone").ValueKind);
    }

    [Fact]
    public async Task None_AnswersWithText()
    {
        var json = await (await fixture.Client().PostJsonAsync("/v1/chat/completions", Body(""","tool_choice":"none" """, maxTokens: 6))).JsonAsync();

        var message = json.GetProperty("choices")[0].GetProperty("message");
        Assert.False(message.TryGetProperty("tool_calls", out _));
        Assert.False(message.GetProperty("content").GetString()!.StartsWith('<'));
        Assert.NotEqual("tool_calls", json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Streamed_DeltasShapedAsOpenAisAndEqualToWhole()
    {
        const string extra = ""","tool_choice":{"type":"function","function":{"name":"get_weather"}}""";
        var whole = await (await fixture.Client().PostJsonAsync("/v1/chat/completions", Body(extra))).JsonAsync();
        var wholeCall = whole.GetProperty("choices")[0].GetProperty("message").GetProperty("tool_calls")[0];

        var response = await fixture.Client().PostJsonAsync("/v1/chat/completions", Body(extra, stream: true));
        Assert.Equal(200, (int)response.StatusCode);
        var events = Http.SseData(await response.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")[0]).ToList();

        var toolDeltas = chunks.Where(c => c.GetProperty("delta").TryGetProperty("tool_calls", out _))
            .Select(c => Assert.Single(c.GetProperty("delta").GetProperty("tool_calls").EnumerateArray())).ToList();
        Assert.True(toolDeltas.Count >= 2);
        var first = toolDeltas[0];
        Assert.Equal(0, first.GetProperty("index").GetInt32());
        Assert.StartsWith("call_", first.GetProperty("id").GetString());
        Assert.Equal("function", first.GetProperty("type").GetString());
        Assert.Equal("get_weather", first.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("", first.GetProperty("function").GetProperty("arguments").GetString());
        foreach (var next in toolDeltas.Skip(1))
        {
            Assert.Equal(0, next.GetProperty("index").GetInt32());
            Assert.False(next.TryGetProperty("id", out _));
            Assert.False(next.GetProperty("function").TryGetProperty("name", out _));
        }
        var arguments = string.Concat(toolDeltas.Select(d => d.GetProperty("function").GetProperty("arguments").GetString()));
        Assert.Equal(wholeCall.GetProperty("function").GetProperty("arguments").GetString(), arguments);
        Assert.Equal("tool_calls", chunks[^1].GetProperty("finish_reason").GetString());
        Assert.DoesNotContain(chunks, c => c.GetProperty("delta").TryGetProperty("content", out var t) && t.GetString() is { Length: > 0 });
    }

    [Fact]
    public async Task ToolConversation_PriorCallsAndResultsAccepted()
    {
        const string body = """
            {"model":"base","max_tokens":4,"temperature":0,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
             "messages":[{"role":"user","content":"Weather in Oslo?"},
               {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Oslo\"}"}}]},
               {"role":"tool","tool_call_id":"call_1","content":"rain, 7 C"}]}
            """;
        var json = await (await fixture.Client().PostJsonAsync("/v1/chat/completions", body)).JsonAsync();
        Assert.True(json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 20);
    }

    public static TheoryData<string, string, string> BadRequests() => new()
    {
        // An invalid schema: parameters must be an object schema, and keywords the grammar cannot enforce are refused.
        { """ "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"string"}}}] """, "tools[0].function.parameters", "invalid_function_parameters" },
        { """ "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"type":"string","pattern":"^a"}}}}}] """, "tools[0].function.parameters", "invalid_function_parameters" },
        { """ "tools":[{"type":"function","function":{"name":"bad name!"}}] """, "tools[0].function.name", "invalid_value" },
        // tool_choice naming a function that is not among the tools.
        { $$$""" "tools":[{{{Weather}}}],"tool_choice":{"type":"function","function":{"name":"get_stock"}} """, "tool_choice.function.name", "invalid_value" },
        { """ "tool_choice":"required" """, "tool_choice", "invalid_value" },
        { $$""" "tools":[{{Weather}}],"tool_choice":"sometimes" """, "tool_choice", "invalid_value" },
        { """ "functions":[{"name":"f"}] """, "functions", "unsupported_parameter" },
        { $$""" "tools":[{{Weather}}],"response_format":{"type":"json_object"} """, "response_format", "invalid_value" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadToolRequest_400AndTheServerKeepsServing(string extra, string param, string code)
    {
        var body = $$"""{"model":"base","messages":[{"role":"user","content":"hi"}],"max_tokens":2,{{extra}}}""";
        var error = await (await fixture.Client().PostJsonAsync("/v1/chat/completions", body)).ErrorAsync(400);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());

        await (await fixture.Client().PostJsonAsync("/v1/chat/completions", Http.Chat("base", "hi", 2))).JsonAsync();
    }

    [Fact]
    public async Task ToolMessageWithoutAMatchingCall_400()
    {
        const string body = """
            {"model":"base","max_tokens":2,"messages":[{"role":"user","content":"Weather in Oslo?"},
               {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
               {"role":"tool","tool_call_id":"call_2","content":"rain"}]}
            """;
        var error = await (await fixture.Client().PostJsonAsync("/v1/chat/completions", body)).ErrorAsync(400);
        Assert.Equal("messages[2].tool_call_id", error.GetProperty("param").GetString());
        Assert.Contains("call_2", error.GetProperty("message").GetString());

        await (await fixture.Client().PostJsonAsync("/v1/chat/completions", Http.Chat("base", "hi", 2))).JsonAsync();
    }
}
