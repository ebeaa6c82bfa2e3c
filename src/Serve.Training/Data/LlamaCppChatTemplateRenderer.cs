using Serve.Llama;

namespace Serve.Training.Data;

/// <summary>The model's chat template through llama.cpp's own matcher (<see cref="LlamaChatTemplate"/>): roles and content.</summary>
public sealed class LlamaCppChatTemplateRenderer(LlamaModel model) : IChatTemplateRenderer
{
    private readonly LlamaModel _model = model ?? throw new ArgumentNullException(nameof(model));

    public bool SupportsTools => false;

    public string Render(ChatExample conversation, int messageCount, bool addAssistant)
    {
        ArgumentNullException.ThrowIfNull(conversation);
        if (conversation.UsesTools)
            throw new NotSupportedException($"line {conversation.Line}: tool calls and tool messages need the Jinja chat template engine; llama.cpp's built-in template matcher renders roles and content only");
        return LlamaChatTemplate.Apply(_model, null, [.. conversation.Messages.Take(messageCount)], addAssistant);
    }
}
