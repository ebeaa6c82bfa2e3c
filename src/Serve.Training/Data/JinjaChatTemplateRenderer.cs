using System.Text.Json;
using Serve.Llama;
using Serve.Templates;

namespace Serve.Training.Data;

/// <summary>
/// The server's chat formatter for training data: Serve.Templates' <see cref="ChatTemplate"/> of the model's
/// tokenizer.chat_template (ChatML when it has none, as the server does), with assistant tool calls and tool results.
/// </summary>
public sealed class JinjaChatTemplateRenderer : IChatTemplateRenderer
{
    private readonly ChatTemplate _template;

    public JinjaChatTemplateRenderer(LlamaModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var vocab = model.Vocab;
        _template = ChatTemplate.ForModel(model.ChatTemplate, vocab.Bos == LlamaVocab.NullToken ? "" : vocab.GetText(vocab.Bos),
            vocab.Eos == LlamaVocab.NullToken ? "" : vocab.GetText(vocab.Eos), vocab.AddBos);
    }

    public bool SupportsTools => true;

    public string Render(ChatExample conversation, int messageCount, bool addAssistant)
    {
        ArgumentNullException.ThrowIfNull(conversation);
        var turns = new List<ChatTurn>(messageCount);
        for (var i = 0; i < messageCount; i++)
        {
            var (role, content) = conversation.Messages[i];
            var tool = conversation.Tools is { } tools && i < tools.Count ? tools[i] : null;
            turns.Add(new ChatTurn(role, content, ToolCalls(conversation.Line, tool?.ToolCallsJson), tool?.ToolCallId, tool?.Name));
        }
        return _template.Render(turns, addGenerationPrompt: addAssistant);
    }

    /// <summary>An OpenAI tool_calls array as the template's calls (arguments as the JSON text the model writes).</summary>
    private static IReadOnlyList<ChatToolCall>? ToolCalls(int line, string? json)
    {
        if (json is null) return null;
        using var document = JsonDocument.Parse(json);
        var calls = new List<ChatToolCall>();
        var index = 0;
        foreach (var call in document.RootElement.EnumerateArray())
        {
            var function = call.GetProperty("function");
            var arguments = function.TryGetProperty("arguments", out var a)
                ? a.ValueKind == JsonValueKind.String ? a.GetString()! : a.GetRawText()
                : "{}";
            var id = call.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString()! : $"call_{line}_{index}";
            calls.Add(new ChatToolCall(id, function.GetProperty("name").GetString()!, arguments));
            index++;
        }
        return calls;
    }
}
