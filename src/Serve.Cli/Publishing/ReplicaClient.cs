using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Serve.Cli.Publishing;

/// <summary>What one replica answered to "load this version".</summary>
public sealed record ReplicaOutcome(Uri Server, bool Loaded, string Message, bool Unreachable = false);

/// <summary>
/// Talks to one running server: its admin API (/admin/adapters: list, raw upload by name, load) to make it serve a
/// version, and /v1/chat/completions for the live check. Uploading the bytes works whether or not the replica shares
/// the registry's filesystem; the replica validates the file against its own base model and keeps serving the old
/// version when it refuses.
/// </summary>
public sealed class ReplicaClient(Uri server, string? adminKey, string? apiKey, TimeSpan timeout) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = server, Timeout = timeout };

    public Uri Server { get; } = server;

    public static Uri ParseServer(string value)
    {
        var text = value.Contains("://", StringComparison.Ordinal) ? value : "http://" + value;
        if (!Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new ArgumentException($"--server '{value}' is not an http(s) URL.");
        return uri;
    }

    /// <summary>The SHA-256 of the base model the replica serves, or null and why it could not say.</summary>
    public async Task<(string? BaseSha256, string? Error)> BaseModelAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var list = await SendAsync(HttpMethod.Get, "admin/adapters", null, adminKey, cancellationToken).ConfigureAwait(false);
            var body = await list.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!list.IsSuccessStatusCode) return (null, $"admin API answered {(int)list.StatusCode}: {ErrorMessage(body)}");
            return (JsonNode.Parse(body)?["base_model_sha256"]?.GetValue<string>(), null);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or InvalidOperationException)
        {
            return (null, Describe(e));
        }
    }

    /// <summary>Uploads the version under name (loaded at once) and checks the replica now serves exactly that content.</summary>
    public async Task<ReplicaOutcome> LoadAsync(string name, string path, string sha256, string baseSha256, CancellationToken cancellationToken)
    {
        try
        {
            using (var list = await SendAsync(HttpMethod.Get, "admin/adapters", null, adminKey, cancellationToken).ConfigureAwait(false))
            {
                var body = await list.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                if (!list.IsSuccessStatusCode) return new ReplicaOutcome(Server, false, $"admin API answered {(int)list.StatusCode}: {ErrorMessage(body)}");
                var replicaBase = JsonNode.Parse(body)?["base_model_sha256"]?.GetValue<string>();
                if (replicaBase is not null && !string.Equals(replicaBase, baseSha256, StringComparison.OrdinalIgnoreCase))
                    return new ReplicaOutcome(Server, false, $"serves base model {replicaBase[..12]}, the adapter was trained on {baseSha256[..12]}: not loaded");
            }
            await using var file = File.OpenRead(path);
            using var content = new StreamContent(file);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await SendAsync(HttpMethod.Put, $"admin/adapters/{Uri.EscapeDataString(name)}?load=true", content, adminKey, cancellationToken).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) return new ReplicaOutcome(Server, false, $"refused ({(int)response.StatusCode}): {ErrorMessage(text)}");
            var view = JsonNode.Parse(text);
            var version = view?["version"]?.GetValue<string>();
            if (version != sha256) return new ReplicaOutcome(Server, false, $"reports version {version} after the upload, expected {sha256[..12]}");
            var loaded = view?["loaded"]?.GetValue<bool>() ?? false;
            return new ReplicaOutcome(Server, true, loaded ? "loaded" : "registered (loads on first use: its adapter slots are busy)");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or InvalidOperationException)
        {
            return new ReplicaOutcome(Server, false, Describe(e), Unreachable: e is HttpRequestException or TaskCanceledException);
        }
    }

    /// <summary>One greedy chat completion with model = name; the answer text, or null and why.</summary>
    public async Task<(string? Answer, string? Error)> ChatAsync(string model, IEnumerable<(string Role, string Content)> messages, int maxTokens, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray([.. messages.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content })]),
            ["temperature"] = 0,
            ["max_tokens"] = maxTokens,
        };
        try
        {
            using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            using var response = await SendAsync(HttpMethod.Post, "v1/chat/completions", content, apiKey, cancellationToken).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) return (null, $"{(int)response.StatusCode}: {ErrorMessage(text)}");
            return (JsonNode.Parse(text)?["choices"]?[0]?["message"]?["content"]?.GetValue<string>() ?? "", null);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or InvalidOperationException)
        {
            return (null, Describe(e));
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content, string? bearer, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (!string.IsNullOrEmpty(bearer)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private string Describe(Exception e) => e switch
    {
        HttpRequestException h => $"not reachable ({h.Message})",
        TaskCanceledException => $"no answer within {_http.Timeout.TotalSeconds:F0} s",
        _ => $"unexpected answer ({e.Message})",
    };

    /// <summary>The message of an OpenAI-shaped error body, or the body itself.</summary>
    private static string ErrorMessage(string body)
    {
        try
        {
            if (JsonNode.Parse(body)?["error"]?["message"]?.GetValue<string>() is { } message) return message;
        }
        catch (JsonException)
        {
        }
        return body.Length > 200 ? body[..200] + "..." : body;
    }

    public void Dispose() => _http.Dispose();
}
