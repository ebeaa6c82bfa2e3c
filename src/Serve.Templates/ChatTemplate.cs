using System.Text;
using System.Text.Json.Nodes;
using Serve.Templates.Jinja;

namespace Serve.Templates;

/// <summary>
/// A model's chat template (the GGUF's tokenizer.chat_template, Jinja) turned into prompt text. The one
/// formatter the server and the trainer share, so a conversation is the same tokens in both.
/// <para>What the template cannot do is found once by rendering probes, and then worked around the way
/// llama.cpp does: a system message goes in front of the first user message when the template drops or refuses
/// the system role; tools go into the system message in <see cref="GenericToolFormat"/> when the template does
/// not render a tools list; tool-call arguments are passed as objects when the template prints them itself.</para>
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The template used for a model without one, by both training and serving: ChatML.</summary>
    public const string ChatMlSource =
        "{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endfor %}" +
        "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}";

    private const string Needle = "\u2063probe\u2063";
    private readonly Template _template;
    private readonly TimeProvider _clock;
    private readonly bool _tokenizerAddsBos;

    /// <param name="tokenizerAddsBos">The tokenizer adds BOS itself, so a bos_token the template writes first is dropped (as llama.cpp does) instead of doubled.</param>
    public ChatTemplate(string source, string bosToken = "", string eosToken = "", bool tokenizerAddsBos = false, TimeProvider? clock = null)
    {
        _tokenizerAddsBos = tokenizerAddsBos;
        _template = Template.Parse(source ?? throw new ArgumentNullException(nameof(source)));
        BosToken = bosToken ?? "";
        EosToken = eosToken ?? "";
        _clock = clock ?? TimeProvider.System;
        SupportsSystemRole = Probe([new("system", Needle), new("user", "Hi")], null) is { } s && s.Contains(Needle, StringComparison.Ordinal);
        var tool = new ChatTool("probe_tool" + "_fn", "probe", """{"type":"object","properties":{"x":{"type":"string"}}}""");
        SupportsTools = Probe([new("user", "Hi")], [tool]) is { } t && t.Contains("probe_tool_fn", StringComparison.Ordinal);
        // The call names a function the tools list does not, so finding the name means the call was rendered.
        var call = new ChatTurn("assistant", null, [new ChatToolCall("call_1", "probe_call_fn", $$"""{"x": "{{Needle}}"}""")]);
        var withObject = Probe([new("user", "Hi"), call], [tool], objectArguments: true);
        SupportsObjectArguments = withObject is not null && withObject.Contains(Needle, StringComparison.Ordinal) && !withObject.Contains("{'x'", StringComparison.Ordinal);
        var withString = SupportsObjectArguments ? withObject : Probe([new("user", "Hi"), call], [tool], objectArguments: false);
        SupportsToolCalls = withString is not null && withString.Contains("probe_call_fn", StringComparison.Ordinal);
        var response = new ChatTurn("tool", "response" + Needle, ToolCallId: "call_1", Name: "probe_call_fn");
        var asked = SupportsToolCalls ? call : GenericToolFormat.InlineToolCalls(call);
        SupportsToolResponses = Probe([new("user", "Hi"), asked, response], [tool], SupportsObjectArguments) is { } r && r.Contains("response" + Needle, StringComparison.Ordinal);
    }

    /// <summary>The template of a model: its own text, or ChatML when it has none.</summary>
    public static ChatTemplate ForModel(string? modelTemplate, string bosToken, string eosToken, bool tokenizerAddsBos) =>
        new(string.IsNullOrWhiteSpace(modelTemplate) ? ChatMlSource : modelTemplate, bosToken, eosToken, tokenizerAddsBos);

    public string Source => _template.Source;
    public string BosToken { get; }
    public string EosToken { get; }
    public bool SupportsSystemRole { get; }
    /// <summary>The template renders the tools variable itself.</summary>
    public bool SupportsTools { get; }
    /// <summary>The template renders assistant tool_calls itself.</summary>
    public bool SupportsToolCalls { get; }
    public bool SupportsObjectArguments { get; }
    /// <summary>The template renders tool messages (role "tool") itself.</summary>
    public bool SupportsToolResponses { get; }

    /// <summary>
    /// The prompt text for these messages; addGenerationPrompt ends it with the assistant turn's opening.
    /// Throws <see cref="TemplateRaisedException"/> when the template refuses the conversation (its own message)
    /// and <see cref="TemplateException"/> for other template errors.
    /// </summary>
    public string Render(IReadOnlyList<ChatTurn> messages, IReadOnlyList<ChatTool>? tools = null, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = messages.Select(m => m.Role == "developer" ? m with { Role = "system" } : m).ToList();
        if (tools is { Count: > 0 } && !SupportsTools) turns = GenericToolFormat.AddToolsToSystem(turns, tools);
        if (!SupportsToolCalls) turns = turns.Select(GenericToolFormat.InlineToolCalls).ToList();
        if (!SupportsToolResponses) turns = GenericToolFormat.ToolResultsAsUserTurns(turns);
        if (!SupportsSystemRole && turns.Count > 0 && turns[0].Role == "system")
        {
            var system = turns[0].Content ?? "";
            turns.RemoveAt(0);
            if (turns.Count > 0) turns[0] = turns[0] with { Content = system + "\n" + (turns[0].Content ?? "") };
        }
        var text = RenderRaw(turns, SupportsTools ? tools : null, addGenerationPrompt, SupportsObjectArguments);
        return _tokenizerAddsBos && BosToken.Length > 0 && text.StartsWith(BosToken, StringComparison.Ordinal) ? text[BosToken.Length..] : text;
    }

    private string? Probe(List<ChatTurn> messages, IReadOnlyList<ChatTool>? tools, bool objectArguments = false)
    {
        try { return RenderRaw(messages, tools, true, objectArguments); }
        catch (TemplateException) { return null; }
    }

    private string RenderRaw(List<ChatTurn> messages, IReadOnlyList<ChatTool>? tools, bool addGenerationPrompt, bool objectArguments)
    {
        var variables = new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => (object?)ToObject(m, objectArguments)).ToList(),
            ["bos_token"] = BosToken,
            ["eos_token"] = EosToken,
            ["add_generation_prompt"] = addGenerationPrompt,
            // What llama.cpp gives every template besides Hugging Face's variables; some published templates read them.
            ["datetime"] = _clock.GetLocalNow().ToString("MMM dd yyyy", System.Globalization.CultureInfo.InvariantCulture),
            ["date_string"] = _clock.GetLocalNow().ToString("dd MMM yyyy", System.Globalization.CultureInfo.InvariantCulture),
        };
        if (tools is { Count: > 0 }) variables["tools"] = tools.Select(t => (object?)ToObject(t)).ToList();
        return _template.Render(variables, _clock);
    }

    private static JinjaObject ToObject(ChatTurn m, bool objectArguments)
    {
        var o = new JinjaObject { ["role"] = m.Role, ["content"] = m.Content ?? "" };
        if (m.ToolCalls is { Count: > 0 } calls)
        {
            o["tool_calls"] = calls.Select(c => (object?)new JinjaObject
            {
                ["id"] = c.Id,
                ["type"] = "function",
                ["function"] = new JinjaObject
                {
                    ["name"] = c.Name,
                    ["arguments"] = objectArguments ? ParseJson(c.Arguments) : c.Arguments,
                },
            }).ToList();
        }
        if (m.ToolCallId is not null) o["tool_call_id"] = m.ToolCallId;
        if (m.Name is not null) o["name"] = m.Name;
        return o;
    }

    private static JinjaObject ToObject(ChatTool t)
    {
        var function = new JinjaObject { ["name"] = t.Name };
        if (t.Description is not null) function["description"] = t.Description;
        function["parameters"] = t.Parameters is null ? new JinjaObject { ["type"] = "object", ["properties"] = new JinjaObject() } : ParseJson(t.Parameters);
        return new JinjaObject { ["type"] = "function", ["function"] = function };
    }

    private static object? ParseJson(string json)
    {
        try { return Values.FromJson(JsonNode.Parse(json)); }
        catch (System.Text.Json.JsonException) { return json; }
    }
}

/// <summary>
/// How tools reach a model whose template has no place for them: a system message lists each function's JSON
/// schema and asks for calls as &lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;; earlier calls in
/// the conversation are written the same way, so the model sees the format it is asked to produce.
/// </summary>
public static class GenericToolFormat
{
    public const string CallOpen = "<tool_call>";
    public const string CallClose = "</tool_call>";

    public static string Describe(IReadOnlyList<ChatTool> tools)
    {
        var sb = new StringBuilder("You can call these functions. To call one, answer only with ")
            .Append(CallOpen).Append("{\"name\": <function name>, \"arguments\": <arguments object>}").Append(CallClose)
            .Append(", one per call.\n");
        foreach (var tool in tools)
        {
            var o = new JsonObject { ["name"] = tool.Name };
            if (tool.Description is not null) o["description"] = tool.Description;
            o["parameters"] = tool.Parameters is null ? new JsonObject() : JsonNode.Parse(tool.Parameters);
            sb.Append(o.ToJsonString()).Append('\n');
        }
        return sb.ToString().TrimEnd('\n');
    }

    /// <summary>Writes one call as the model is asked to write it.</summary>
    public static string FormatCall(ChatToolCall call) =>
        CallOpen + "{\"name\": " + JsonValue.Create(call.Name).ToJsonString() + ", \"arguments\": " + call.Arguments + "}" + CallClose;

    internal static List<ChatTurn> AddToolsToSystem(List<ChatTurn> turns, IReadOnlyList<ChatTool> tools)
    {
        var description = Describe(tools);
        if (turns.Count > 0 && turns[0].Role == "system")
            return [turns[0] with { Content = (turns[0].Content ?? "") + "\n\n" + description }, .. turns.Skip(1)];
        return [new ChatTurn("system", description), .. turns];
    }

    public const string ResponseOpen = "<tool_response>";
    public const string ResponseClose = "</tool_response>";

    /// <summary>Tool results become user turns (merged into one when several follow each other) for templates without a tool role.</summary>
    internal static List<ChatTurn> ToolResultsAsUserTurns(List<ChatTurn> turns)
    {
        var result = new List<ChatTurn>(turns.Count);
        foreach (var turn in turns)
        {
            if (turn.Role != "tool") { result.Add(turn); continue; }
            var text = ResponseOpen + "\n" + (turn.Content ?? "") + "\n" + ResponseClose;
            if (result.Count > 0 && result[^1] is { Role: "user" } previous && previous.Content?.EndsWith(ResponseClose, StringComparison.Ordinal) == true)
                result[^1] = previous with { Content = previous.Content + "\n" + text };
            else result.Add(new ChatTurn("user", text));
        }
        return result;
    }

    internal static ChatTurn InlineToolCalls(ChatTurn turn)
    {
        if (turn.ToolCalls is not { Count: > 0 } calls) return turn;
        var text = string.Concat(calls.Select(FormatCall));
        return turn with { Content = string.IsNullOrEmpty(turn.Content) ? text : turn.Content + "\n" + text, ToolCalls = null };
    }
}
