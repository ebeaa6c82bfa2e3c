using System.Text.Json;

namespace Serve.Training.Data;

/// <summary>
/// Reads chat training data as JSON Lines: <c>{"messages":[{"role","content"},...]}</c> (roles system, user,
/// assistant, tool) or <c>{"prompt","completion"}</c> (a user message and the assistant's answer). Blank lines are
/// skipped; any other line that cannot be used is an error naming its line number: nothing is dropped silently.
/// </summary>
public static class JsonlChatReader
{
    // tool: a function result in a tool-calling conversation (its content is what the function returned).
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
            var hasPrompt = root.TryGetProperty("prompt", out var prompt);
            var hasCompletion = root.TryGetProperty("completion", out var completion);
            if (!hasPrompt && !hasCompletion) return (null, "expected \"messages\" or \"prompt\" and \"completion\"");
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
        var index = 0;
        foreach (var m in messages.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object) return (null, $"messages[{index}] is not an object");
            if (!m.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
                return (null, $"messages[{index}] has no string \"role\"");
            if (!Roles.Contains(role.GetString()!))
                return (null, $"messages[{index}] has role '{role.GetString()}' (expected system, user, assistant or tool)");
            if (!m.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                return (null, $"messages[{index}] has no string \"content\"");
            list.Add((role.GetString()!, content.GetString()!));
            index++;
        }
        if (list.Count == 0) return (null, "\"messages\" is empty");
        var lastAssistant = list.FindLastIndex(m => m.Item1 == "assistant");
        if (lastAssistant < 0) return (null, "no assistant message: nothing to learn from");
        if (lastAssistant != list.Count - 1) return (null, $"ends with a {list[^1].Item1} message that has no assistant answer");
        if (list.Where(m => m.Item1 == "assistant").Any(m => m.Item2.Length == 0)) return (null, "an assistant message is empty");
        return (new ChatExample(number, list), null);
    }
}
