namespace Serve.Training.Data;

/// <summary>
/// Renders a conversation with the model's chat template: the one seam between training data and chat formatting, so
/// the text trained on is exactly the text the server builds for the same messages.
/// </summary>
/// <remarks>
/// <see cref="JinjaChatTemplateRenderer"/> (the default) is the server's own formatter, tool calls included;
/// <see cref="LlamaCppChatTemplateRenderer"/> is llama.cpp's built-in template matcher (roles and content only), kept
/// for cross-checks.
/// </remarks>
public interface IChatTemplateRenderer
{
    /// <summary>Whether <see cref="Render"/> renders assistant tool_calls and tool messages (<see cref="ChatExample.Tools"/>).</summary>
    bool SupportsTools { get; }

    /// <summary>
    /// The template applied to the first <paramref name="messageCount"/> messages of <paramref name="conversation"/>,
    /// with the assistant's opening appended when <paramref name="addAssistant"/>.
    /// </summary>
    string Render(ChatExample conversation, int messageCount, bool addAssistant);
}
