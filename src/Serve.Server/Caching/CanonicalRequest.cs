using System.Buffers;
using System.Text;
using System.Text.Json;
using Serve.Engine;
using Serve.Server.OpenAi;

namespace Serve.Server.Caching;

/// <summary>
/// A validated request written as one canonical JSON text for the response cache key: everything that shapes the
/// response bytes (normalised messages or prompt, every sampling parameter, limits, stop strings, logprobs, stream
/// framing, the model name echoed) in a fixed order, and nothing that does not (field order or spacing of the body).
/// </summary>
internal static class CanonicalRequest
{
    public static string Write(GenerationPlan plan, EngineOptions engine)
    {
        var r = plan.Request;
        var s = r.Sampling;
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", plan.Model);
            w.WriteBoolean("stream", plan.Stream);
            w.WriteBoolean("include_usage", plan.IncludeUsage);
            if (r.Choices != 1) w.WriteNumber("n", r.Choices);
            if (plan.Echo is not null) w.WriteString("echo", plan.Echo);
            if (r.Messages is not null)
            {
                w.WriteStartArray("messages");
                foreach (var m in r.Messages)
                {
                    w.WriteStartArray();
                    w.WriteStringValue(m.Role);
                    w.WriteStringValue(m.Content ?? "");
                    if (m.ToolCalls is not null || m.ToolCallId is not null || m.Name is not null)
                    {
                        w.WriteStringValue(m.ToolCallId);
                        w.WriteStringValue(m.Name);
                        foreach (var call in m.ToolCalls ?? [])
                        {
                            w.WriteStringValue(call.Id);
                            w.WriteStringValue(call.Name);
                            w.WriteStringValue(call.Arguments);
                        }
                    }
                    w.WriteEndArray();
                }
                w.WriteEndArray();
            }
            if (r.Prompt is not null) w.WriteString("prompt", r.Prompt);
            if (plan.Tools is { } tools)
            {
                // The grammar below holds the schemas and the choice; the prompt also holds names and descriptions.
                w.WriteString("tool_choice", tools.Mode + ":" + tools.Forced);
                w.WriteBoolean("parallel_tool_calls", tools.Parallel);
                w.WriteStartArray("tools");
                foreach (var tool in tools.Tools)
                {
                    w.WriteStringValue(tool.Name);
                    w.WriteStringValue(tool.Description);
                    w.WriteStringValue(tool.Parameters);
                }
                w.WriteEndArray();
            }
            // An unset max_tokens means the engine's default, bounded by the context: both are part of the answer.
            if (r.MaxTokens is { } max) w.WriteNumber("max_tokens", max);
            else w.WriteString("max_tokens", $"default:{engine.DefaultMaxTokens}/{engine.ContextPerSequence}");
            w.WriteStartArray("stop");
            foreach (var stop in r.Stop) w.WriteStringValue(stop);
            w.WriteEndArray();
            w.WriteBoolean("logprobs", r.Logprobs);
            w.WriteNumber("top_logprobs", r.TopLogprobs ?? 0);
            w.WriteBoolean("ignore_eos", r.IgnoreEos);
            w.WriteNumber("temperature", s.Temperature);
            w.WriteNumber("top_p", s.TopP);
            w.WriteNumber("top_k", s.TopK);
            w.WriteNumber("min_p", s.MinP);
            if (s.Seed is { } seed) w.WriteNumber("seed", seed);
            else w.WriteNull("seed");
            w.WriteNumber("presence_penalty", s.PresencePenalty);
            w.WriteNumber("frequency_penalty", s.FrequencyPenalty);
            w.WriteNumber("repetition_penalty", s.RepetitionPenalty);
            w.WriteStartArray("logit_bias");
            foreach (var (token, bias) in (s.LogitBias ?? new Dictionary<int, float>()).OrderBy(kv => kv.Key))
            {
                w.WriteStartArray();
                w.WriteNumberValue(token);
                w.WriteNumberValue(bias);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            if (s.Grammar is not null) w.WriteString("grammar", s.Grammar);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
