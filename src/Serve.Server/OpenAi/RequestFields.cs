using System.Text.Json;
using Serve.Server.Hosting;

namespace Serve.Server.OpenAi;

/// <summary>
/// Strict request fields: a field this server does not know is OpenAI's 400 "Unrecognized request argument
/// supplied: X" (unless the server is lenient), and a field of another API that this server does not implement is
/// refused with the supported way to ask for the same thing, so nothing a client asked for is dropped silently.
/// </summary>
internal static class RequestFields
{
    private static readonly Dictionary<string, string> Refused = new(StringComparer.Ordinal)
    {
        ["guided_json"] = "vLLM's guided_json is not supported: send the schema as response_format {\"type\": \"json_schema\", \"json_schema\": {\"name\": ..., \"schema\": ...}}.",
        ["guided_regex"] = "vLLM's guided_regex is not supported: constrain the output with response_format json_schema, or with a GBNF 'grammar'.",
        ["guided_choice"] = "vLLM's guided_choice is not supported: use response_format json_schema with an enum, or a GBNF 'grammar'.",
        ["guided_grammar"] = "vLLM's guided_grammar is not supported: send a GBNF grammar as 'grammar'.",
        ["json_schema"] = "llama-server's json_schema field is not supported: send it as response_format {\"type\": \"json_schema\", ...}.",
        ["n_predict"] = "llama-server's n_predict is not supported: use max_tokens.",
        ["reasoning_effort"] = "reasoning_effort is not supported: this model does not reason in a separate channel.",
        ["modalities"] = "modalities other than text are not supported: leave 'modalities' out.",
        ["audio"] = "Audio output is not supported by this model.",
        ["prediction"] = "Predicted outputs ('prediction') are not supported.",
        ["web_search_options"] = "Web search is not supported by this server.",
        ["best_of"] = "best_of is not supported: send n with the choices you want and pick one.",
        ["use_beam_search"] = "Beam search is not supported.",
    };

    public static void Check(GenerationRequestBody body, ServerOptions options)
    {
        if (body.Store == true)
            throw OpenAiException.BadRequest("store=true is not supported: this server does not store completions.", "store", "unsupported_value");
        if (body.ServiceTier is not null and not ("auto" or "default"))
            throw OpenAiException.BadRequest($"Invalid value: '{body.ServiceTier}'. Supported values are: 'auto' and 'default'.", "service_tier", "invalid_value");
        if (body.Unrecognized is not { Count: > 0 } fields) return;
        string? unknown = null;
        foreach (var (name, value) in fields)
        {
            if (name == "modalities" && IsTextOnly(value)) continue; // what this server does anyway
            if (Refused.TryGetValue(name, out var hint)) throw OpenAiException.BadRequest(hint, name, "unsupported_parameter");
            unknown ??= name;
        }
        if (unknown is not null && options.StrictRequestFields)
            throw OpenAiException.BadRequest($"Unrecognized request argument supplied: {unknown}", unknown, "unrecognized_argument");
    }

    private static bool IsTextOnly(JsonElement value) =>
        value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String && v.GetString() == "text");
}
