using System.Text.Json;
using System.Text.Json.Serialization;
using Serve.Templates;

namespace Serve.Templates.Tests;

/// <summary>llama.cpp's own chat-template expectations (tests/test-chat-template.cpp), each case rendered here.</summary>
public sealed class ChatTemplateCasesTests
{
    public sealed record Case(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("template")] string Template,
        [property: JsonPropertyName("expected")] string Expected,
        [property: JsonPropertyName("bos_token")] string BosToken,
        [property: JsonPropertyName("eos_token")] string EosToken,
        [property: JsonPropertyName("supported_with_jinja")] bool SupportedWithJinja,
        [property: JsonPropertyName("extra_conversation")] List<Turn> ExtraConversation);

    public sealed record Turn([property: JsonPropertyName("role")] string Role, [property: JsonPropertyName("content")] string Content);

    private static readonly ChatTurn[] Conversation =
    [
        new("system", "You are a helpful assistant"),
        new("user", "Hello"),
        new("assistant", "Hi there"),
        new("user", "Who are you"),
        new("assistant", "   I am an assistant   "),
        new("user", "Another question"),
    ];

    internal static List<Case> LoadCases() =>
        JsonSerializer.Deserialize<List<Case>>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "chat-template-cases.json")))!;

    public static TheoryData<string> SupportedCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in LoadCases().Where(c => c.SupportedWithJinja)) data.Add(c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(SupportedCases))]
    public void Render_LlamaCppCase_EqualsExpectedOutput(string name)
    {
        var c = LoadCases().Single(x => x.Name == name);
        var template = new ChatTemplate(c.Template, c.BosToken, c.EosToken);
        var messages = Conversation.Concat(c.ExtraConversation.Select(t => new ChatTurn(t.Role, t.Content))).ToList();

        var output = template.Render(messages, addGenerationPrompt: true);

        Assert.Equal(c.Expected, output);
    }

    [Fact]
    public void Cases_AreAllThere()
    {
        var cases = LoadCases();
        Assert.Equal(36, cases.Count);
        Assert.Equal(35, cases.Count(c => c.SupportedWithJinja));
    }
}
