using System.Text.Json;
using System.Text.RegularExpressions;
using Serve.Server.Grammar;
using Serve.Server.OpenAi;
using Serve.Templates;

namespace Serve.Server.Tools;

/// <summary>How the model may use the tools: never (None), when it chooses (Auto), at least once (Required), or one named function.</summary>
internal enum ToolChoiceMode { None, Auto, Required, Named }

/// <summary>
/// A chat request's tools, validated: each function's schema converted to a grammar, so whatever the model calls
/// parses and matches the schema. Calls are written in <see cref="GenericToolFormat"/> and parsed back by
/// <see cref="ToolCallStream"/>.
/// </summary>
internal sealed partial record ToolCalling(IReadOnlyList<ChatTool> Tools, ToolChoiceMode Mode, string? Forced, bool Parallel, string Grammar)
{
    /// <summary>True when the output must be parsed for calls.</summary>
    public bool MayCall => Mode != ToolChoiceMode.None;

    [GeneratedRegex("^[a-zA-Z0-9_-]{1,64}$")]
    private static partial Regex FunctionName();

    /// <summary>The request's tools and tool_choice, or null when it has no tools. Throws OpenAiException (400).</summary>
    public static ToolCalling? Map(ChatCompletionRequest body)
    {
        if (body.Functions is { ValueKind: not JsonValueKind.Null })
            throw OpenAiException.BadRequest("'functions' is deprecated and not supported here: send the functions as 'tools' ([{\"type\": \"function\", \"function\": {...}}]).", "functions", "unsupported_parameter");
        if (body.FunctionCall is { ValueKind: not JsonValueKind.Null })
            throw OpenAiException.BadRequest("'function_call' is deprecated and not supported here: use 'tool_choice'.", "function_call", "unsupported_parameter");
        if (body.Tools is null || body.Tools.Count == 0)
        {
            if (body.Tools is { Count: 0 })
                throw OpenAiException.BadRequest("Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.", "tools", "empty_array");
            if (body.ToolChoice is { ValueKind: not JsonValueKind.Null } choice && !(choice.ValueKind == JsonValueKind.String && choice.GetString() == "none"))
                throw OpenAiException.BadRequest("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", "tool_choice", "invalid_value");
            if (body.ParallelToolCalls is not null)
                throw OpenAiException.BadRequest("Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.", "parallel_tool_calls", "invalid_value");
            return null;
        }

        var tools = new List<ChatTool>(body.Tools.Count);
        var schemas = new List<(string Name, JsonElement? Parameters)>(body.Tools.Count);
        for (var i = 0; i < body.Tools.Count; i++)
        {
            var at = $"tools[{i}]";
            var tool = body.Tools[i] ?? throw OpenAiException.BadRequest($"Invalid type for '{at}': expected an object.", at, "invalid_type");
            if (tool.Type != "function")
                throw OpenAiException.BadRequest($"Invalid value: '{tool.Type}'. Supported values are: 'function'.", $"{at}.type", "invalid_value");
            var function = tool.Function ?? throw OpenAiException.BadRequest($"Missing required parameter: '{at}.function'.", $"{at}.function", "missing_required_parameter");
            if (string.IsNullOrEmpty(function.Name))
                throw OpenAiException.BadRequest($"Missing required parameter: '{at}.function.name'.", $"{at}.function.name", "missing_required_parameter");
            if (!FunctionName().IsMatch(function.Name))
                throw OpenAiException.BadRequest($"Invalid '{at}.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$' of at most 64 characters.", $"{at}.function.name", "invalid_value");
            if (tools.Any(t => t.Name == function.Name))
                throw OpenAiException.BadRequest($"Invalid 'tools': the function name '{function.Name}' is given twice.", $"{at}.function.name", "invalid_value");
            JsonElement? parameters = function.Parameters is { ValueKind: not JsonValueKind.Null } p ? p : null;
            if (parameters is { } schema)
            {
                if (schema.ValueKind != JsonValueKind.Object)
                    throw OpenAiException.BadRequest($"Invalid schema for function '{function.Name}': the parameters must be a JSON schema object.", $"{at}.function.parameters", "invalid_function_parameters");
                if (schema.TryGetProperty("type", out var type) && !(type.ValueKind == JsonValueKind.String && type.GetString() == "object"))
                    throw OpenAiException.BadRequest($"Invalid schema for function '{function.Name}': schema must be a JSON Schema of 'type: \"object\"', got 'type: {type.GetRawText()}'.", $"{at}.function.parameters", "invalid_function_parameters");
                try
                {
                    JsonSchemaToGbnf.Convert(schema);
                }
                catch (JsonSchemaNotSupportedException e)
                {
                    throw OpenAiException.BadRequest($"Invalid schema for function '{function.Name}': {e.Message}.", $"{at}.function.parameters", "invalid_function_parameters");
                }
            }
            tools.Add(new ChatTool(function.Name, function.Description, parameters?.GetRawText()));
            schemas.Add((function.Name, parameters));
        }

        var (mode, forced) = Choice(body.ToolChoice, tools);
        var parallel = body.ParallelToolCalls ?? true;
        var callable = mode == ToolChoiceMode.Named ? schemas.Where(s => s.Name == forced).ToList() : schemas;
        var grammar = mode == ToolChoiceMode.None
            ? JsonSchemaToGbnf.ToolCalls([], allowText: true, parallel: false)
            : JsonSchemaToGbnf.ToolCalls(callable, allowText: mode == ToolChoiceMode.Auto, parallel: parallel && mode != ToolChoiceMode.Named);
        return new ToolCalling(tools, mode, forced, parallel, grammar);
    }

    private static (ToolChoiceMode, string?) Choice(JsonElement? choice, List<ChatTool> tools)
    {
        if (choice is not { } c || c.ValueKind == JsonValueKind.Null) return (ToolChoiceMode.Auto, null);
        if (c.ValueKind == JsonValueKind.String)
        {
            return c.GetString() switch
            {
                "none" => (ToolChoiceMode.None, null),
                "auto" => (ToolChoiceMode.Auto, null),
                "required" => (ToolChoiceMode.Required, null),
                var other => throw OpenAiException.BadRequest($"Invalid value: '{other}'. Supported values are: 'none', 'auto', and 'required'.", "tool_choice", "invalid_value"),
            };
        }
        if (c.ValueKind != JsonValueKind.Object)
            throw OpenAiException.BadRequest("Invalid type for 'tool_choice': expected a string or an object.", "tool_choice", "invalid_type");
        if (!c.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "function")
            throw OpenAiException.BadRequest("Invalid value for 'tool_choice.type': supported values are: 'function'.", "tool_choice.type", "invalid_value");
        if (!c.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object
            || !function.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
            throw OpenAiException.BadRequest("Missing required parameter: 'tool_choice.function.name'.", "tool_choice.function.name", "missing_required_parameter");
        var named = name.GetString()!;
        if (!tools.Any(t => t.Name == named))
            throw OpenAiException.BadRequest($"Invalid value for 'tool_choice': function '{named}' is not one of the 'tools' ({string.Join(", ", tools.Select(t => t.Name))}).", "tool_choice.function.name", "invalid_value");
        return (ToolChoiceMode.Named, named);
    }
}
