using System.Buffers;
using System.Text.Json;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Workloads;

namespace Serve.LoadTest.Client;

/// <summary>Writes the OpenAI request body for a plan.</summary>
public static class RequestBody
{
    public static byte[] Write(RequestPlan plan, EndpointKind endpoint, WorkloadSpec workload)
    {
        var buffer = new ArrayBufferWriter<byte>(plan.Prompt.Length + (plan.SystemPrompt?.Length ?? 0) + 256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", plan.Adapter);
            var heavy = workload.Heavy;
            var prompt = heavy?.PromptBytes is { } bytes ? HeavyPrompt(bytes) : plan.Prompt;
            if (endpoint == EndpointKind.Chat)
            {
                w.WriteStartArray("messages");
                if (plan.SystemPrompt is not null) WriteMessage(w, "system", plan.SystemPrompt);
                WriteMessage(w, "user", prompt);
                w.WriteEndArray();
            }
            else
            {
                w.WriteString("prompt", plan.SystemPrompt is null ? prompt : plan.SystemPrompt + "\n\n" + prompt);
            }
            if (heavy?.GrammarAlternatives is { } alternatives)
                w.WriteString("grammar", "root ::= " + string.Join(" | ", Enumerable.Range(0, alternatives).Select(i => $"\"w{i}\"")));
            if (heavy?.SchemaEnumValues is { } values)
            {
                w.WriteStartObject("response_format");
                w.WriteString("type", "json_schema");
                w.WriteStartObject("json_schema");
                w.WriteString("name", "heavy");
                w.WriteStartObject("schema");
                w.WriteString("type", "object");
                w.WriteStartObject("properties");
                w.WriteStartObject("value");
                w.WriteStartArray("enum");
                for (var i = 0; i < values; i++) w.WriteStringValue($"value-{i}");
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteNumber("max_tokens", plan.MaxTokens);
            w.WriteNumber("temperature", plan.Temperature);
            if (plan.Seed is { } seed) w.WriteNumber("seed", seed);
            w.WriteBoolean("stream", plan.Stream);
            if (plan.Stream)
            {
                w.WriteStartObject("stream_options");
                w.WriteBoolean("include_usage", true);
                w.WriteEndObject();
            }
            var perAdapter = workload.AdapterBodies?.GetValueOrDefault(plan.Adapter);
            if (workload.ExtraBody is { } extra)
            {
                foreach (var (name, value) in extra)
                {
                    if (perAdapter?.ContainsKey(name) == true) continue;
                    w.WritePropertyName(name);
                    if (value is null) w.WriteNullValue();
                    else value.WriteTo(w);
                }
            }
            if (perAdapter is not null)
            {
                foreach (var (name, value) in perAdapter)
                {
                    w.WritePropertyName(name);
                    if (value is null) w.WriteNullValue();
                    else value.WriteTo(w);
                }
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Plain words, exactly bytes long (ASCII).</summary>
    private static string HeavyPrompt(int bytes)
    {
        const string words = "the quick brown fox jumps over the lazy dog ";
        var text = new System.Text.StringBuilder(bytes + words.Length);
        while (text.Length < bytes) text.Append(words);
        return text.ToString(0, bytes);
    }

    private static void WriteMessage(Utf8JsonWriter w, string role, string content)
    {
        w.WriteStartObject();
        w.WriteString("role", role);
        w.WriteString("content", content);
        w.WriteEndObject();
    }
}
