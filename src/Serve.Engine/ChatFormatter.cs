using System.Collections.Concurrent;
using Serve.Engine.Adapters;
using Serve.Llama;
using Serve.Templates;
using Serve.Templates.Jinja;

namespace Serve.Engine;

/// <summary>
/// Which chat template formats a request, and the formatting: the --chat-template override, else the first of the
/// request's adapters whose GGUF carries its own tokenizer.chat_template, else the base model's, else ChatML (the
/// same fallback training uses). Templates are parsed once (per adapter version).
/// </summary>
internal sealed class ChatFormatter
{
    private readonly ChatTemplate _base;
    private readonly bool _overridden;
    private readonly string _bos;
    private readonly string _eos;
    private readonly bool _addsBos;
    private readonly ConcurrentDictionary<string, ChatTemplate> _adapterTemplates = new(StringComparer.Ordinal);

    public ChatFormatter(LlamaModel model, string? overrideTemplate)
    {
        var vocab = model.Vocab;
        _bos = vocab.Bos == LlamaVocab.NullToken ? "" : vocab.GetText(vocab.Bos);
        _eos = vocab.Eos == LlamaVocab.NullToken ? "" : vocab.GetText(vocab.Eos);
        _addsBos = vocab.AddBos;
        _overridden = !string.IsNullOrWhiteSpace(overrideTemplate);
        try
        {
            _base = ChatTemplate.ForModel(_overridden ? ResolveOverride(overrideTemplate!) : model.ChatTemplate, _bos, _eos, _addsBos);
        }
        catch (TemplateException e)
        {
            throw new InvalidOperationException($"The {(_overridden ? "--chat-template" : "model's")} chat template does not parse: {e.Message}", e);
        }
    }

    /// <summary>The template for a request with these adapters.</summary>
    public ChatTemplate For(IReadOnlyList<AdapterWeight> adapters, AdapterCatalog catalog)
    {
        if (_overridden) return _base;
        foreach (var weight in adapters)
        {
            if (catalog.Find(weight.Name) is not { } info) continue;
            if (!info.Metadata.TryGetValue("tokenizer.chat_template", out var source) || string.IsNullOrWhiteSpace(source)) continue;
            return _adapterTemplates.GetOrAdd(info.Version, _ =>
            {
                try { return ChatTemplate.ForModel(source, _bos, _eos, _addsBos); }
                catch (TemplateException e) { throw new InvalidGenerationRequestException($"Adapter '{info.Name}' has a chat template that does not parse: {e.Message}", "model"); }
            });
        }
        return _base;
    }

    /// <summary>The prompt text of a conversation; a template's own refusal (raise_exception) is the caller's 400.</summary>
    public static string Format(ChatTemplate template, IReadOnlyList<ChatMessage> messages, IReadOnlyList<ChatTool>? tools)
    {
        var turns = messages.Select(m => new ChatTurn(m.Role, m.ToolCalls is { Count: > 0 } && m.Content.Length == 0 ? null : m.Content, m.ToolCalls, m.ToolCallId, m.Name)).ToList();
        try
        {
            return template.Render(turns, tools, addGenerationPrompt: true);
        }
        catch (TemplateRaisedException e)
        {
            throw new InvalidGenerationRequestException($"The model's chat template refused these messages: {e.TemplateMessage}", "messages");
        }
        catch (TemplateException e)
        {
            throw new InvalidGenerationRequestException($"The model's chat template could not format these messages: {e.Message}", "messages");
        }
    }

    /// <summary>--chat-template takes "chatml", a path to a .jinja file, or the template text itself.</summary>
    private static string ResolveOverride(string value)
    {
        if (value == "chatml") return ChatTemplate.ChatMlSource;
        if (!value.Contains("{%", StringComparison.Ordinal) && !value.Contains("{{", StringComparison.Ordinal))
        {
            if (!File.Exists(value)) throw new FileNotFoundException($"--chat-template '{value}' is neither 'chatml', a template file, nor Jinja template text.", value);
            return File.ReadAllText(value);
        }
        return value;
    }
}
