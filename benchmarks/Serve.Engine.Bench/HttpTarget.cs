using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Serve.Engine.Bench;

/// <summary>POST /v1/chat/completions with stream=true, read as SSE; tokens from the final usage chunk.</summary>
internal sealed class HttpTarget(HttpClient client, string baseModel) : IStreamTarget
{
    public async Task<(int Tokens, double Ttft)> StreamAsync(string question, string? adapter, int maxTokens, long start)
    {
        var body = new JsonObject
        {
            ["model"] = adapter ?? baseModel,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = question }),
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
            ["ignore_eos"] = true,
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(body) };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"{(int)response.StatusCode} from the server: {await response.Content.ReadAsStringAsync()}");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double ttft = -1;
        var tokens = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]") continue;
            using var chunk = JsonDocument.Parse(line.AsMemory(6));
            var root = chunk.RootElement;
            if (ttft < 0 && root.GetProperty("choices") is { ValueKind: JsonValueKind.Array } choices && choices.GetArrayLength() > 0
                && choices[0].GetProperty("delta").TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 })
                ttft = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                tokens = usage.GetProperty("completion_tokens").GetInt32();
        }
        return (tokens, ttft);
    }
}
