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
            if (endpoint == EndpointKind.Chat)
            {
                w.WriteStartArray("messages");
                if (plan.SystemPrompt is not null) WriteMessage(w, "system", plan.SystemPrompt);
                WriteMessage(w, "user", plan.Prompt);
                w.WriteEndArray();
            }
            else
            {
                w.WriteString("prompt", plan.SystemPrompt is null ? plan.Prompt : plan.SystemPrompt + "\n\n" + plan.Prompt);
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
            if (workload.ExtraBody is { } extra)
            {
                foreach (var (name, value) in extra)
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

    private static void WriteMessage(Utf8JsonWriter w, string role, string content)
    {
        w.WriteStartObject();
        w.WriteString("role", role);
        w.WriteString("content", content);
        w.WriteEndObject();
    }
}
