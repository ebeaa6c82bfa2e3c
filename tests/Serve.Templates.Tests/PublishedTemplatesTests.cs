using Serve.Templates;

namespace Serve.Templates.Tests;

/// <summary>Every published template in llama.cpp's models/templates renders a conversation with a tool and a tool call.</summary>
public sealed class PublishedTemplatesTests
{
    private static readonly ChatTool Weather = new("get_weather", "Current weather of a city",
        """{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"]}""");

    public static TheoryData<string> Templates()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "TestData", "templates"), "*.jinja").Order())
            data.Add(Path.GetFileName(f));
        return data;
    }

    private static ChatTemplate Load(string file) =>
        new(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "templates", file)), "<s>", "</s>");

    [Theory]
    [MemberData(nameof(Templates))]
    public void Render_ConversationWithToolCall_ContainsEveryPart(string file)
    {
        var template = Load(file);
        List<ChatTurn> messages =
        [
            new("system", "You are a weather bot."),
            new("user", "Hello, how are you?"),
            new("assistant", "I am fine, thank you!"),
            new("user", "What is the weather in Paris?"),
            new("assistant", null, [new ChatToolCall("call00001", "get_weather", """{"city": "Paris"}""")]),
            new("tool", "{\"temperature\": 18}", ToolCallId: "call00001", Name: "get_weather"),
        ];

        var output = template.Render(messages, [Weather], addGenerationPrompt: true);

        Assert.Contains("What is the weather in Paris?", output);
        Assert.Contains("Paris", output[output.IndexOf("What is the weather in Paris?", StringComparison.Ordinal)..][29..]);
        Assert.Contains("get_weather", output);
        Assert.Contains("18", output);
    }

    [Theory]
    [MemberData(nameof(Templates))]
    public void Render_PlainConversation_KeepsEveryTurn(string file)
    {
        var template = Load(file);
        List<ChatTurn> messages = [new("user", "Hello"), new("assistant", "Hi there"), new("user", "Who are you")];

        var output = template.Render(messages, addGenerationPrompt: true);

        Assert.Contains("Hello", output);
        Assert.Contains("Hi there", output);
        Assert.Contains("Who are you", output);
    }
}
