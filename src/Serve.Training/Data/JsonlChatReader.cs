using System.Text.Json;

namespace Serve.Training.Data;

/// <summary>
/// Reads training data as JSON Lines, each line in one of the formats people already have:
/// <list type="bullet">
/// <item><c>{"messages":[{"role","content"},...]}</c>: OpenAI chat (system, user, assistant, and tool; an assistant
/// message may carry <c>tool_calls</c> and then needs no content; a tool message may carry tool_call_id and name);</item>
/// <item><c>{"conversations":[{"from","value"},...]}</c>: ShareGPT (human/user, gpt/assistant, system);</item>
/// <item><c>{"instruction","input"?,"output"}</c>: Alpaca (instruction and input become the user message);</item>
/// <item><c>{"prompt","completion"}</c>: a user message and the assistant's answer;</item>
/// <item><c>{"text"}</c>: plain text, trained whole without a chat template.</item>
/// </list>
/// Blank lines are skipped; any other line that cannot be used is an error naming its line number: nothing is
/// dropped silently.
/// </summary>
public static class JsonlChatReader
{
    private static readonly HashSet<string> Roles = ["system", "user", "assistant", "tool"];

    public static IReadOnlyList<ChatExample> Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"dataset '{path}' does not exist", path);
        var examples = new List<ChatExample>();
        var errors = new List<DatasetLineError>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var (example, error) = Parse(line, number);
            if (error is not null) errors.Add(new DatasetLineError(number, error));
            else examples.Add(example!);
        }
        if (errors.Count > 0) throw new DatasetException(path, errors);
        if (examples.Count == 0) throw new DatasetException($"dataset '{path}' has no examples");
        return examples;
    }

    public static (ChatExample? Example, string? Error) Parse(string line, int number)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            return (null, $"not valid JSON ({e.Message.Split(" LineNumber:")[0].Split(" Path:")[0].TrimEnd('.', ' ')})");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return (null, "expected a JSON object");
            if (root.TryGetProperty("messages", out var messages)) return ParseMessages(messages, number);
            if (root.TryGetProperty("conversations", out var conversations)) return ParseShareGpt(conversations, number);
            if (root.TryGetProperty("instruction", out var instruction)) return ParseAlpaca(root, instruction, number);
            if (root.TryGetProperty("text", out var text))
            {
                if (text.ValueKind != JsonValueKind.String) return (null, "\"text\" must be a string");
                if (string.IsNullOrWhiteSpace(text.GetString())) return (null, "\"text\" is empty");
                return (new ChatExample(number, []) { Text = text.GetString() }, null);
            }
            var hasPrompt = root.TryGetProperty("prompt", out var prompt);
            var hasCompletion = root.TryGetProperty("completion", out var completion);
            if (!hasPrompt && !hasCompletion) return (null, "expected \"messages\", \"conversations\", \"instruction\"/\"output\", \"prompt\"/\"completion\" or \"text\"");
            if (!hasPrompt || prompt.ValueKind != JsonValueKind.String) return (null, "\"prompt\" must be a string");
            if (!hasCompletion || completion.ValueKind != JsonValueKind.String) return (null, "\"completion\" must be a string");
            if (completion.GetString()!.Length == 0) return (null, "\"completion\" is empty");
            return (new ChatExample(number, [("user", prompt.GetString()!), ("assistant", completion.GetString()!)]), null);
        }
    }

    private static (ChatExample?, string?) ParseMessages(JsonElement messages, int number)
    {
        if (messages.ValueKind != JsonValueKind.Array) return (null, "\"messages\" must be an array");
        var list = new List<(string, string)>();
        var tools = new List<MessageToolData?>();
        var index = 0;
        foreach (var m in messages.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object) return (null, $"messages[{index}] is not an object");
            if (!m.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
                return (null, $"messages[{index}] has no string \"role\"");
            var r = role.GetString()!;
            if (!Roles.Contains(r))
                return (null, $"messages[{index}] has role '{r}' (expected system, user, assistant or tool)");
            string? toolCalls = null;
            if (m.TryGetProperty("tool_calls", out var calls) && calls.ValueKind != JsonValueKind.Null)
            {
                if (r != "assistant") return (null, $"messages[{index}] has tool_calls but role '{r}' (only assistant messages call tools)");
                if (calls.ValueKind != JsonValueKind.Array || calls.GetArrayLength() == 0) return (null, $"messages[{index}].tool_calls must be a non-empty array");
                var call = 0;
                foreach (var c in calls.EnumerateArray())
                {
                    if (c.ValueKind != JsonValueKind.Object || !c.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object
                        || !function.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
                        return (null, $"messages[{index}].tool_calls[{call}] has no function with a string name");
                    call++;
                }
                toolCalls = calls.GetRawText();
            }
            var hasContent = m.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String;
            if (!hasContent && !(toolCalls is not null && (content.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)))
                return (null, $"messages[{index}] has no string \"content\"");
            string? toolCallId = null, toolName = null;
            if (r == "tool")
            {
                if (m.TryGetProperty("tool_call_id", out var id) && id.ValueKind == JsonValueKind.String) toolCallId = id.GetString();
                if (m.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String) toolName = n.GetString();
            }
            list.Add((r, hasContent ? content.GetString()! : ""));
            tools.Add(toolCalls is null && r != "tool" ? null : new MessageToolData(toolCalls, toolCallId, toolName));
            index++;
        }
        if (list.Count == 0) return (null, "\"messages\" is empty");
        var lastAssistant = list.FindLastIndex(m => m.Item1 == "assistant");
        if (lastAssistant < 0) return (null, "no assistant message: nothing to learn from");
        if (lastAssistant != list.Count - 1) return (null, $"ends with a {list[^1].Item1} message that has no assistant answer");
        for (var i = 0; i < list.Count; i++)
            if (list[i].Item1 == "assistant" && list[i].Item2.Length == 0 && tools[i]?.ToolCallsJson is null) return (null, "an assistant message is empty");
        return (new ChatExample(number, list) { Tools = tools.Any(t => t is not null) ? tools : null }, null);
    }

    private static (ChatExample?, string?) ParseShareGpt(JsonElement conversations, int number)
    {
        if (conversations.ValueKind != JsonValueKind.Array) return (null, "\"conversations\" must be an array");
        var list = new List<(string, string)>();
        var index = 0;
        foreach (var m in conversations.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object) return (null, $"conversations[{index}] is not an object");
            if (!m.TryGetProperty("from", out var from) || from.ValueKind != JsonValueKind.String)
                return (null, $"conversations[{index}] has no string \"from\"");
            var role = from.GetString() switch
            {
                "human" or "user" => "user",
                "gpt" or "assistant" or "chatgpt" or "bing" or "bard" => "assistant",
                "system" => "system",
                var other => null,
            };
            if (role is null) return (null, $"conversations[{index}] is from '{from.GetString()}' (expected human, gpt or system)");
            if (!m.TryGetProperty("value", out var value) || value.ValueKind != JsonValueKind.String)
                return (null, $"conversations[{index}] has no string \"value\"");
            list.Add((role, value.GetString()!));
            index++;
        }
        if (list.Count == 0) return (null, "\"conversations\" is empty");
        if (list[^1].Item1 != "assistant") return (null, $"ends with a {list[^1].Item1} turn that has no gpt answer");
        if (list.Any(m => m.Item1 == "assistant" && m.Item2.Length == 0)) return (null, "a gpt turn is empty");
        return (new ChatExample(number, list), null);
    }

    private static (ChatExample?, string?) ParseAlpaca(JsonElement root, JsonElement instruction, int number)
    {
        if (instruction.ValueKind != JsonValueKind.String || instruction.GetString()!.Length == 0) return (null, "\"instruction\" must be a non-empty string");
        if (!root.TryGetProperty("output", out var output) || output.ValueKind != JsonValueKind.String) return (null, "\"output\" must be a string");
        if (output.GetString()!.Length == 0) return (null, "\"output\" is empty");
        var user = instruction.GetString()!;
        if (root.TryGetProperty("input", out var input) && input.ValueKind != JsonValueKind.Null)
        {
            if (input.ValueKind != JsonValueKind.String) return (null, "\"input\" must be a string");
            if (input.GetString()!.Length > 0) user += "\n\n" + input.GetString();
        }
        var messages = new List<(string, string)>();
        if (root.TryGetProperty("system", out var system) && system.ValueKind == JsonValueKind.String && system.GetString()!.Length > 0)
            messages.Add(("system", system.GetString()!));
        messages.Add(("user", user));
        messages.Add(("assistant", output.GetString()!));
        return (new ChatExample(number, messages), null);
    }
}
