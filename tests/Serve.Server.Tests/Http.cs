using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Serve.Server.Tests;

/// <summary>Raw HTTP helpers for what the SDK hides: exact error shapes, SSE framing, admin calls.</summary>
public static class Http
{
    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string path, string json, CancellationToken cancellationToken = default) =>
        client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), cancellationToken);

    public static Task<HttpResponseMessage> PostBytesAsync(this HttpClient client, string path, byte[] body, string contentType = "application/json")
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return client.PostAsync(path, content);
    }

    public static string Chat(string model, string user, int maxTokens = 8, string extra = "") =>
        $$"""{"model":"{{model}}","messages":[{"role":"user","content":{{JsonSerializer.Serialize(user)}}}],"max_tokens":{{maxTokens}},"temperature":0{{extra}}}""";

    /// <summary>Asserts the OpenAI error shape and returns the inner error object.</summary>
    public static async Task<JsonElement> ErrorAsync(this HttpResponseMessage response, int status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(body);
        var error = doc.RootElement.GetProperty("error");
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.NotEmpty(error.GetProperty("message").GetString()!);
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.GetProperty("param").ValueKind is JsonValueKind.String or JsonValueKind.Null);
        Assert.True(error.GetProperty("code").ValueKind is JsonValueKind.String or JsonValueKind.Null);
        return error.Clone();
    }

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response, int status = 200)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.Clone();
    }

    /// <summary>The data payloads of an SSE body, in order (including "[DONE]").</summary>
    public static List<string> SseData(string body)
    {
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        return [.. events.Select(e =>
        {
            Assert.StartsWith("data: ", e);
            return e["data: ".Length..];
        })];
    }
}
