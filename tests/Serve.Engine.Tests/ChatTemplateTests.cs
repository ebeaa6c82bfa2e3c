using Serve.Models;
using Serve.Templates;

namespace Serve.Engine.Tests;

/// <summary>Which template formats a chat request: an adapter's own, the override, the base model's.</summary>
public sealed class ChatTemplateTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private const string Bracketed = "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}";
    private static readonly ChatMessage[] Hi = [new("system", "Be brief."), new("user", "hi")];

    [Fact]
    public void FormatChat_AdapterWithItsOwnTemplate_WinsForThatAdapterOnly()
    {
        var dir = fixture.AdapterDirectory("a");
        LoraMaker.Write(Path.Combine(dir, "t.gguf"), fixture.ModelPath, new LoraSpec { Seed = 91, ChatTemplate = Bracketed });
        using var engine = InferenceEngine.Start(fixture.Options() with { AdaptersDirectory = dir });

        Assert.Equal("[system]Be brief.[user]hi[assistant]", engine.FormatChat(Hi, [new AdapterWeight("t")]));
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", engine.FormatChat(Hi, [new AdapterWeight("a")]));
        Assert.Equal(engine.FormatChat(Hi), engine.FormatChat(Hi, [new AdapterWeight("a")]));
    }

    [Fact]
    public void FormatChat_ChatTemplateOverride_FormatsEveryRequest()
    {
        var dir = fixture.AdapterDirectory();
        LoraMaker.Write(Path.Combine(dir, "t.gguf"), fixture.ModelPath, new LoraSpec { Seed = 92, ChatTemplate = "{{ raise_exception('not me') }}" });
        var file = Path.Combine(fixture.Directory, "override.jinja");
        File.WriteAllText(file, Bracketed);
        using var engine = InferenceEngine.Start(fixture.Options() with { AdaptersDirectory = dir, ChatTemplate = file });

        Assert.Equal("[system]Be brief.[user]hi[assistant]", engine.FormatChat(Hi));
        Assert.Equal("[system]Be brief.[user]hi[assistant]", engine.FormatChat(Hi, [new AdapterWeight("t")]));
    }

    [Fact]
    public async Task Generate_TemplateRefusesConversation_InvalidRequestWithTheTemplatesMessage()
    {
        using var engine = InferenceEngine.Start(fixture.Options() with
        {
            ChatTemplate = "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with a user message') }}{% endif %}{{ messages[0].content }}",
        });
        var e = await Assert.ThrowsAsync<InvalidGenerationRequestException>(() =>
            engine.CollectAsync(new GenerationRequest { Messages = [new("assistant", "hello")], MaxTokens = 2 }));
        Assert.Contains("Conversation must start with a user message", e.Message);
        Assert.Equal("messages", e.Param);
    }

    [Fact]
    public void Start_OverrideThatDoesNotParse_Refused()
    {
        var e = Assert.Throws<InvalidOperationException>(() => InferenceEngine.Start(fixture.Options() with { ChatTemplate = "{% for x in y %}never closed" }));
        Assert.Contains("--chat-template", e.Message);
    }

    [Fact]
    public void FormatChat_ToolsOnATemplateWithoutThem_GenericFormatInTheSystemMessage()
    {
        using var engine = InferenceEngine.Start(fixture.Options());
        var tool = new ChatTool("get_weather", "Weather of a city", """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""");
        var text = engine.FormatChat([new("user", "Weather in Oslo?"), new("assistant", "", [new ChatToolCall("call_1", "get_weather", """{"city":"Oslo"}""")]),
            new("tool", "rain", ToolCallId: "call_1")], tools: [tool]);

        Assert.StartsWith("<|im_start|>system\nYou can call these functions.", text);
        Assert.Contains("\"name\":\"get_weather\"", text);
        Assert.Contains("<|im_start|>assistant\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\"}}</tool_call><|im_end|>", text);
        Assert.Contains("<|im_start|>tool\nrain<|im_end|>", text);
    }
}
