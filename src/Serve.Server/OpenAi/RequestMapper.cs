using System.Globalization;
using System.Text;
using System.Text.Json;
using Serve.Engine;
using Serve.Server.Grammar;
using Serve.Server.Hosting;
using Serve.Server.Tools;
using Serve.Templates;

namespace Serve.Server.OpenAi;

/// <summary>
/// Checks an OpenAI request body and turns it into an engine request (<see cref="Map(ChatCompletionRequest, InferenceEngine, ServerOptions)"/>),
/// then hands it to the engine (<see cref="Prepare"/>). Each rule has one owner: this mapper checks the wire (JSON
/// shapes, OpenAI's vocabularies, field combinations) and this server's own limits (max_tokens, grammar, schema and
/// prompt-token limits); the engine checks everything about the request itself (n, max_tokens at least 1, logprobs,
/// stop strings, adapters, sampling ranges, messages, the context) in <see cref="InferenceEngine.Prepare"/>, whose
/// errors come back as 400s under the request's own field names.
/// </summary>
internal static class RequestMapper
{
    /// <summary>Completions call the engine's top_logprobs "logprobs".</summary>
    private static readonly Dictionary<string, string> CompletionNames = new(StringComparer.Ordinal) { ["top_logprobs"] = "logprobs" };

    /// <summary>A chat request that sends max_completion_tokens calls the engine's max_tokens that.</summary>
    private static readonly Dictionary<string, string> MaxCompletionTokensNames = new(StringComparer.Ordinal) { ["max_tokens"] = "max_completion_tokens" };

    private static readonly HashSet<string> Roles = new(StringComparer.Ordinal) { "system", "developer", "user", "assistant", "tool" };

    public static GenerationPlan Map(ChatCompletionRequest body, InferenceEngine engine, ServerOptions options)
    {
        RequestFields.Check(body, options);
        var model = RequireModel(body);
        if (body.Messages is null) throw OpenAiException.BadRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        var messages = new List<ChatMessage>(body.Messages.Count);
        var callIds = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < body.Messages.Count; i++) messages.Add(Message(body.Messages[i], i, callIds));
        var tools = ToolCalling.Map(body);
        var request = Common(body, engine, options, body.MaxCompletionTokens is null ? "max_tokens" : "max_completion_tokens", body.MaxCompletionTokens ?? body.MaxTokens) with
        {
            Messages = messages,
            Logprobs = body.Logprobs ?? false,
            TopLogprobs = body.TopLogprobs,
            Tools = tools?.Tools,
        };
        if (tools is not null)
        {
            if (tools.MayCall && request.Sampling.Grammar is not null)
                throw OpenAiException.BadRequest("Tool calls are constrained by their own grammar: give 'response_format' or 'grammar' only with tool_choice 'none'.",
                    body.Grammar is not null ? "grammar" : "response_format", "invalid_value");
            request = request with { Sampling = request.Sampling with { Grammar = request.Sampling.Grammar ?? tools.Grammar } };
        }
        return new GenerationPlan(request, model, body.Stream ?? false, IncludeUsage(body), Tools: tools,
            FieldNames: body.MaxCompletionTokens is null ? null : MaxCompletionTokensNames);
    }

    public static GenerationPlan Map(CompletionRequest body, InferenceEngine engine, ServerOptions options)
    {
        RequestFields.Check(body, options);
        var model = RequireModel(body);
        var prompt = Prompt(body.Prompt);
        if (!string.IsNullOrEmpty(body.Suffix)) throw OpenAiException.BadRequest("'suffix' is not supported.", "suffix", "unsupported_parameter");
        var request = Common(body, engine, options, "max_tokens", body.MaxTokens) with
        {
            Prompt = prompt,
            Logprobs = body.Logprobs is not null,
            TopLogprobs = body.Logprobs,
        };
        return new GenerationPlan(request, model, body.Stream ?? false, IncludeUsage(body), body.Echo == true ? prompt : null, FieldNames: CompletionNames);
    }

    /// <summary>
    /// Hands a mapped request to the engine, which checks every rule it owns and tokenizes the prompt (once: the engine
    /// generates from this without tokenizing again); then this server's own prompt-token limit is checked against
    /// that count. Engine errors about a field the request spells differently are reported under the request's name.
    /// </summary>
    public static PreparedGeneration Prepare(GenerationPlan plan, InferenceEngine engine, ServerOptions options)
    {
        PreparedGeneration prepared;
        try
        {
            prepared = engine.Prepare(plan.Request);
        }
        catch (InvalidGenerationRequestException e) when (e.Param is { } param && plan.FieldNames?.GetValueOrDefault(param) is { } name)
        {
            // The engine's messages about a field start with its name: "top_logprobs must be ..." becomes "logprobs must be ...".
            var message = e.Message.StartsWith(param + " ", StringComparison.Ordinal) ? name + e.Message[param.Length..] : e.Message;
            throw OpenAiException.BadRequest(message, name, "invalid_value");
        }
        CheckPromptTokens(options, prepared.PromptTokens, plan.Request.Messages is null ? "prompt" : "messages");
        return prepared;
    }

    /// <summary>This server's limit on prompt tokens (Serve:MaxPromptTokens), below the engine's context.</summary>
    public static void CheckPromptTokens(ServerOptions options, int count, string param)
    {
        if (options.MaxPromptTokens is { } limit && count > limit)
            throw OpenAiException.BadRequest($"The {param} has {count} tokens; this server allows at most {limit} prompt tokens.", param, "context_length_exceeded");
    }

    /// <summary>The adapters a model name selects: none for the base, the adapter at scale 1, or the adapters extension.</summary>
    public static IReadOnlyList<AdapterWeight> Adapters(string model, List<AdapterWeightBody>? extension, InferenceEngine engine)
    {
        var isBase = engine.IsBaseModelName(model);
        if (!isBase && engine.Adapters.Find(model) is null) throw OpenAiException.ModelNotFound(model);
        if (extension is not null)
        {
            var weights = new List<AdapterWeight>(extension.Count);
            // An entry without a name is the engine's to refuse (param adapters[i].name).
            foreach (var a in extension) weights.Add(new AdapterWeight(a?.Name ?? "", a?.Scale ?? 1f));
            return weights;
        }
        return isBase ? [] : [new AdapterWeight(model)];
    }

    /// <summary>llama-server's lora field: ids index the adapters as /v1/models lists them after the base.</summary>
    private static IReadOnlyList<AdapterWeight> Lora(GenerationRequestBody body, InferenceEngine engine)
    {
        if (body.Adapters is not null) throw OpenAiException.BadRequest("Give either 'adapters' or 'lora', not both.", "lora", "invalid_value");
        if (!engine.IsBaseModelName(body.Model!))
            throw OpenAiException.BadRequest("'lora' applies adapters to the base model: set model to the base model's name (or \"base\").", "lora", "invalid_value");
        var listed = engine.Adapters.List();
        var weights = new List<AdapterWeight>(body.Lora!.Count);
        for (var i = 0; i < body.Lora.Count; i++)
        {
            var entry = body.Lora[i];
            if (entry?.Id is not { } id)
                throw OpenAiException.BadRequest($"Missing required parameter: 'lora[{i}].id'.", $"lora[{i}].id", "missing_required_parameter");
            if (id < 0 || id >= listed.Count)
                throw OpenAiException.BadRequest($"lora[{i}].id is {id}, but this server has {listed.Count} adapters (ids 0 to {listed.Count - 1}, in /v1/models order after the base).", $"lora[{i}].id", "invalid_value");
            var scale = entry.Scale ?? 1f;
            // llama-server lists every adapter and leaves the unused ones at scale 0.
            if (scale != 0f) weights.Add(new AdapterWeight(listed[id].Name, scale));
        }
        return weights;
    }

    private static string RequireModel(GenerationRequestBody body)
    {
        if (string.IsNullOrWhiteSpace(body.Model))
            throw OpenAiException.BadRequest("You must provide a model parameter.", "model", "missing_required_parameter");
        return body.Model;
    }

    private static bool IncludeUsage(GenerationRequestBody body)
    {
        if (body.StreamOptions is null) return false;
        if (body.Stream != true)
            throw OpenAiException.BadRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options", "invalid_value");
        return body.StreamOptions.IncludeUsage ?? false;
    }

    private static GenerationRequest Common(GenerationRequestBody body, InferenceEngine engine, ServerOptions options, string maxTokensParam, int? maxTokens)
    {
        // n (1 to MaxChoices) and max_tokens at least 1 are the engine's rules (Prepare); the ceiling below is this server's.
        if (maxTokens > options.MaxCompletionTokens)
            throw OpenAiException.BadRequest($"{maxTokensParam} is too large: {maxTokens}. This server allows at most {options.MaxCompletionTokens}.", maxTokensParam, "invalid_value");
        return new GenerationRequest
        {
            Adapters = body.Lora is null ? Adapters(body.Model!, body.Adapters, engine) : Lora(body, engine),
            MaxTokens = maxTokens,
            Choices = body.N ?? 1,
            Stop = Stop(body.Stop),
            IgnoreEos = body.IgnoreEos ?? false,
            Sampling = new SamplingOptions
            {
                Temperature = body.Temperature ?? 1f,
                TopP = body.TopP ?? 1f,
                TopK = body.TopK ?? 0,
                MinP = body.MinP ?? 0f,
                Seed = body.Seed is { } seed ? unchecked((uint)(seed ^ (seed >> 32))) : null,
                PresencePenalty = body.PresencePenalty ?? 0f,
                FrequencyPenalty = body.FrequencyPenalty ?? 0f,
                RepetitionPenalty = body.RepetitionPenalty ?? 1f,
                LogitBias = LogitBias(body.LogitBias),
                Grammar = Grammar(body, options),
            },
        };
    }

    private static ChatMessage Message(ChatMessageBody? m, int index, HashSet<string> callIds)
    {
        var at = $"messages[{index}]";
        if (m is null) throw OpenAiException.BadRequest($"{at} must be an object.", at, "invalid_type");
        if (string.IsNullOrEmpty(m.Role)) throw OpenAiException.BadRequest($"Missing required parameter: '{at}.role'.", $"{at}.role", "missing_required_parameter");
        if (!Roles.Contains(m.Role))
            throw OpenAiException.BadRequest($"Invalid value: '{m.Role}'. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.", $"{at}.role", "invalid_value");
        if (m.FunctionCall is { ValueKind: not JsonValueKind.Null })
            throw OpenAiException.BadRequest($"'{at}.function_call' is deprecated and not supported here: send the call as 'tool_calls'.", $"{at}.function_call", "unsupported_parameter");
        var role = m.Role == "developer" ? "system" : m.Role;
        if (m.ToolCalls is not null && role != "assistant")
            throw OpenAiException.BadRequest($"Invalid parameter: only messages with role 'assistant' can have 'tool_calls'.", $"{at}.tool_calls", "invalid_value");
        if (m.ToolCallId is not null && role != "tool")
            throw OpenAiException.BadRequest($"Invalid parameter: only messages with role 'tool' can have a 'tool_call_id'.", $"{at}.tool_call_id", "invalid_value");
        var calls = m.ToolCalls is null ? null : ToolCalls(m.ToolCalls, at, callIds);
        if (role == "tool")
        {
            if (string.IsNullOrEmpty(m.ToolCallId))
                throw OpenAiException.BadRequest($"Missing required parameter: '{at}.tool_call_id'.", $"{at}.tool_call_id", "missing_required_parameter");
            if (!callIds.Contains(m.ToolCallId))
                throw OpenAiException.BadRequest($"Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls'; no earlier call has the id '{m.ToolCallId}'.", $"{at}.tool_call_id", "invalid_value");
        }
        var content = calls is { Count: > 0 } && m.Content is null or { ValueKind: JsonValueKind.Null } ? "" : Content(m.Content, $"{at}.content", role);
        return new ChatMessage(role, content, calls, m.ToolCallId, m.Name);
    }

    private static List<ChatToolCall> ToolCalls(List<ToolCallBody> calls, string at, HashSet<string> callIds)
    {
        var result = new List<ChatToolCall>(calls.Count);
        for (var i = 0; i < calls.Count; i++)
        {
            var p = $"{at}.tool_calls[{i}]";
            var call = calls[i] ?? throw OpenAiException.BadRequest($"Invalid type for '{p}': expected an object.", p, "invalid_type");
            if (string.IsNullOrEmpty(call.Id)) throw OpenAiException.BadRequest($"Missing required parameter: '{p}.id'.", $"{p}.id", "missing_required_parameter");
            if (call.Type != "function") throw OpenAiException.BadRequest($"Invalid value: '{call.Type}'. Supported values are: 'function'.", $"{p}.type", "invalid_value");
            if (call.Function is null || string.IsNullOrEmpty(call.Function.Name))
                throw OpenAiException.BadRequest($"Missing required parameter: '{p}.function.name'.", $"{p}.function.name", "missing_required_parameter");
            var arguments = call.Function.Arguments ?? throw OpenAiException.BadRequest($"Missing required parameter: '{p}.function.arguments'.", $"{p}.function.arguments", "missing_required_parameter");
            try
            {
                using var parsed = JsonDocument.Parse(arguments);
                if (parsed.RootElement.ValueKind != JsonValueKind.Object) throw new JsonException("not an object");
            }
            catch (JsonException)
            {
                throw OpenAiException.BadRequest($"Invalid '{p}.function.arguments': expected the JSON text of an object.", $"{p}.function.arguments", "invalid_value");
            }
            callIds.Add(call.Id);
            result.Add(new ChatToolCall(call.Id, call.Function.Name, arguments));
        }
        return result;
    }

    /// <summary>A string, null (assistant turns), or an array of text parts joined; other parts (images, audio) are refused.</summary>
    private static string Content(JsonElement? content, string param, string role)
    {
        if (content is not { } c || c.ValueKind == JsonValueKind.Null)
        {
            if (role is "assistant") return "";
            throw OpenAiException.BadRequest($"Missing required parameter: '{param}'.", param, "missing_required_parameter");
        }
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) throw OpenAiException.BadRequest($"Invalid type for '{param}': expected a string or an array of content parts.", param, "invalid_type");
        var text = new StringBuilder();
        var i = 0;
        foreach (var part in c.EnumerateArray())
        {
            var at = $"{param}[{i++}]";
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                throw OpenAiException.BadRequest($"Invalid content part '{at}': expected an object with a type.", at, "invalid_type");
            if (type.GetString() != "text")
                throw OpenAiException.BadRequest($"Content parts of type '{type.GetString()}' are not supported by this model; only 'text' is.", $"{at}.type", "unsupported_value");
            if (!part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                throw OpenAiException.BadRequest($"Invalid type for '{at}.text': expected a string.", $"{at}.text", "invalid_type");
            text.Append(t.GetString());
        }
        return text.ToString();
    }

    private static string Prompt(JsonElement? prompt)
    {
        if (prompt is not { } p || p.ValueKind == JsonValueKind.Null)
            throw OpenAiException.BadRequest("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
        if (p.ValueKind == JsonValueKind.String) return p.GetString()!;
        if (p.ValueKind == JsonValueKind.Array)
        {
            if (p.GetArrayLength() == 1 && p[0].ValueKind == JsonValueKind.String) return p[0].GetString()!;
            if (p.GetArrayLength() == 0) throw OpenAiException.BadRequest("'prompt' must not be empty.", "prompt", "invalid_value");
            if (p[0].ValueKind == JsonValueKind.Number)
                throw OpenAiException.BadRequest("Token-id prompts are not supported: send the prompt as text.", "prompt", "unsupported_value");
            throw OpenAiException.BadRequest("Only one prompt per request is supported: send separate requests.", "prompt", "unsupported_value");
        }
        throw OpenAiException.BadRequest("Invalid type for 'prompt': expected a string or an array of one string.", "prompt", "invalid_type");
    }

    private static IReadOnlyList<string> Stop(JsonElement? stop)
    {
        if (stop is not { } s || s.ValueKind == JsonValueKind.Null) return [];
        if (s.ValueKind == JsonValueKind.String) return [s.GetString()!];
        if (s.ValueKind == JsonValueKind.Array)
        {
            var list = new List<string>();
            foreach (var item in s.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String)
                    throw OpenAiException.BadRequest("Invalid type for 'stop': expected a string or an array of strings.", "stop", "invalid_type");
                list.Add(item.GetString()!);
            }
            return list;
        }
        throw OpenAiException.BadRequest("Invalid type for 'stop': expected a string or an array of strings.", "stop", "invalid_type");
    }

    private static Dictionary<int, float>? LogitBias(Dictionary<string, float>? bias)
    {
        if (bias is null || bias.Count == 0) return null;
        var result = new Dictionary<int, float>(bias.Count);
        foreach (var (key, value) in bias)
        {
            if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var token))
                throw OpenAiException.BadRequest($"Invalid key in 'logit_bias': '{key}' is not a token id.", "logit_bias", "invalid_value");
            result[token] = value;
        }
        return result;
    }

    private static string? Grammar(GenerationRequestBody body, ServerOptions options)
    {
        // Limits first: a grammar is compiled on the request's task, but every token of the sequence is checked
        // against it on the scheduler thread, which all requests share.
        if (body.Grammar is { } grammar && Encoding.UTF8.GetByteCount(grammar) > options.MaxGrammarBytes)
            throw OpenAiException.BadRequest($"The grammar is larger than this server's limit of {options.MaxGrammarBytes} bytes.", "grammar", "grammar_too_large");
        if (body.ResponseFormat?.JsonSchema?.Schema is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } limited)
            SchemaLimits.Check(limited, options.MaxSchemaBytes, options.MaxSchemaEnumValues);
        var format = body.ResponseFormat;
        string? fromFormat = null;
        switch (format?.Type)
        {
            case null or "text":
                break;
            case "json_object":
                fromFormat = JsonSchemaToGbnf.AnyObject();
                break;
            case "json_schema":
                if (format.JsonSchema?.Schema is not { } schema || schema.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
                    throw OpenAiException.BadRequest("Missing required parameter: 'response_format.json_schema.schema'.", "response_format.json_schema.schema", "missing_required_parameter");
                try
                {
                    fromFormat = JsonSchemaToGbnf.Convert(schema);
                }
                catch (JsonSchemaNotSupportedException e)
                {
                    throw OpenAiException.BadRequest($"Invalid schema for response_format: {e.Message}.", "response_format.json_schema.schema", "unsupported_schema");
                }
                break;
            default:
                throw OpenAiException.BadRequest($"Invalid value: '{format.Type}'. Supported values are: 'text', 'json_object' and 'json_schema'.", "response_format.type", "invalid_value");
        }
        if (fromFormat is not null && body.Grammar is not null)
            throw OpenAiException.BadRequest("Give either response_format or grammar, not both.", "grammar", "invalid_value");
        return fromFormat ?? body.Grammar;
    }
}
