using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Serve.LoadTest.Scenarios;
using Serve.LoadTest.Workloads;

namespace Serve.LoadTest.Client;

/// <summary>Sends planned requests over a raw HttpClient and reads SSE itself, timestamping every chunk, so the
/// timings are the wire's and not an SDK's.</summary>
public sealed class OpenAiLoadClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly TargetSpec _target;
    private readonly Uri _chatUri;
    private readonly Uri _completionsUri;
    private readonly AuthenticationHeaderValue? _auth;

    public OpenAiLoadClient(TargetSpec target, string? apiKey)
    {
        _target = target;
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = target.MaxConnections,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        var baseUrl = target.BaseUrl.TrimEnd('/');
        _chatUri = new Uri(baseUrl + "/v1/chat/completions");
        _completionsUri = new Uri(baseUrl + "/v1/completions");
        _auth = string.IsNullOrEmpty(apiKey) ? null : new AuthenticationHeaderValue("Bearer", apiKey);
    }

    public async Task<RequestOutcome> SendAsync(RequestPlan plan, byte[] body, EndpointKind endpoint, CancellationToken runToken, TimeSpan? stallAfterHeaders = null)
    {
        var outcome = new RequestOutcome();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(runToken);
        timeout.CancelAfter(_target.RequestTimeout);
        var start = Stopwatch.GetTimestamp();
        try
        {
            using var response = await SendOnceOrRetryAsync(plan, body, endpoint, outcome, timeout.Token).ConfigureAwait(false);
            outcome.Status = (int)response.StatusCode;
            outcome.CacheHit = response.Headers.TryGetValues(_target.CacheHeader, out var values)
                && values.Any(v => string.Equals(v, _target.CacheHitValue, StringComparison.OrdinalIgnoreCase));
            if (!response.IsSuccessStatusCode)
            {
                outcome.RetryAfterSeconds = response.Headers.RetryAfter?.Delta?.TotalSeconds;
                var text = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
                (outcome.ErrorKind, outcome.ErrorMessage) = ReadError(text, outcome.Status);
                outcome.E2eUs = ElapsedUs(start);
                return outcome;
            }
            if (plan.Stream && stallAfterHeaders is { } stall)
            {
                // A reader that stopped: the server sees a client that takes nothing more (not even the first event).
                await Task.Delay(stall, timeout.Token).ConfigureAwait(false);
                Fail(outcome, start, "stalled", $"stopped reading for {stall.TotalSeconds:0.#}s after the response headers (stallAfterHeaders)");
                return outcome;
            }
            if (plan.Stream && IsEventStream(response))
                await ReadStreamAsync(response, endpoint, start, outcome, timeout.Token).ConfigureAwait(false);
            else
                await ReadJsonAsync(response, endpoint, outcome, timeout.Token).ConfigureAwait(false);
            outcome.E2eUs = ElapsedUs(start);
        }
        catch (OperationCanceledException) when (!runToken.IsCancellationRequested)
        {
            Fail(outcome, start, "timeout", $"no complete response within {_target.RequestTimeout.TotalSeconds:0.#}s");
        }
        catch (OperationCanceledException)
        {
            Fail(outcome, start, "cancelled", "the run stopped before the response completed");
        }
        catch (HttpRequestException e)
        {
            Fail(outcome, start, KindOf(e), e.Message);
        }
        catch (IOException e)
        {
            Fail(outcome, start, "response_ended", e.Message);
        }
        catch (JsonException e)
        {
            Fail(outcome, start, "invalid_response", e.Message);
        }
        return outcome;
    }

    /// <summary>Sends the request; when a reused keep-alive connection turns out to have been closed by the server
    /// before any response arrived (the request was never answered), sends it once more on a fresh connection, as
    /// the OpenAI SDKs do. Servers built on cpp-httplib (llama-server) close idle keep-alive connections on their
    /// own schedule, so without this a benchmark would count their connection churn as failed requests.</summary>
    private async Task<HttpResponseMessage> SendOnceOrRetryAsync(RequestPlan plan, byte[] body, EndpointKind endpoint,
        RequestOutcome outcome, CancellationToken token)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint == EndpointKind.Chat ? _chatUri : _completionsUri);
            request.Headers.Authorization = _auth;
            if (plan.Stream) request.Headers.Accept.Add(EventStreamMediaType);
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = JsonMediaType;
            try
            {
                return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
            }
            catch (HttpRequestException e) when (attempt == 0 && !token.IsCancellationRequested
                && e.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.ConnectionError
                && e.InnerException is not SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                outcome.Retries++;
            }
        }
    }

    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");
    private static readonly MediaTypeWithQualityHeaderValue EventStreamMediaType = new("text/event-stream");

    private static bool IsEventStream(HttpResponseMessage response) =>
        response.Content.Headers.ContentType?.MediaType is "text/event-stream";

    private static async Task ReadStreamAsync(HttpResponseMessage response, EndpointKind endpoint, long start,
        RequestOutcome outcome, CancellationToken token)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 4096);
        long last = 0;
        var done = false;
        while (await reader.ReadLineAsync(token).ConfigureAwait(false) is { } line)
        {
            // SSE: only "data:" lines carry payloads; comments (":") and other fields are skipped.
            if (!line.StartsWith("data:", StringComparison.Ordinal)) continue;
            var now = Stopwatch.GetTimestamp();
            var payload = line.AsSpan(5).Trim();
            if (payload.SequenceEqual("[DONE]"))
            {
                done = true;
                break;
            }
            using var doc = JsonDocument.Parse(payload.ToString());
            var root = doc.RootElement;
            if (root.TryGetProperty("error", out var error))
            {
                outcome.ErrorKind = error.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : "stream_error";
                outcome.ErrorMessage = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : error.GetRawText();
                return;
            }
            ReadUsage(root, outcome);
            if (!HasContent(root, endpoint)) continue;
            outcome.ContentChunks++;
            if (outcome.TtftUs is null)
            {
                outcome.TtftUs = ToUs(now - start);
                outcome.ItlUs = [];
            }
            else
            {
                outcome.ItlUs!.Add(ToUs(now - last));
            }
            last = now;
        }
        if (!done)
        {
            outcome.ErrorKind = "stream_incomplete";
            outcome.ErrorMessage = "the event stream ended without data: [DONE]";
            return;
        }
        outcome.Ok = true;
    }

    private static async Task ReadJsonAsync(HttpResponseMessage response, EndpointKind endpoint, RequestOutcome outcome, CancellationToken token)
    {
        var bytes = await response.Content.ReadAsByteArrayAsync(token).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(bytes);
        var root = doc.RootElement;
        ReadUsage(root, outcome);
        // Without usage a non-streaming response has one "chunk": count it so tokens are never silently zero.
        outcome.ContentChunks = HasContent(root, endpoint) ? 1 : 0;
        if (!root.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array)
        {
            outcome.ErrorKind = "invalid_response";
            outcome.ErrorMessage = "no choices in the response";
            return;
        }
        outcome.Ok = true;
    }

    private static bool HasContent(JsonElement root, EndpointKind endpoint)
    {
        if (!root.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array) return false;
        foreach (var choice in choices.EnumerateArray())
        {
            var text = default(JsonElement);
            if (endpoint == EndpointKind.Chat)
            {
                if ((choice.TryGetProperty("delta", out var holder) || choice.TryGetProperty("message", out holder))
                    && holder.ValueKind == JsonValueKind.Object)
                    holder.TryGetProperty("content", out text);
            }
            else
            {
                choice.TryGetProperty("text", out text);
            }
            if (text.ValueKind == JsonValueKind.String && !text.ValueEquals(string.Empty)) return true;
        }
        return false;
    }

    private static void ReadUsage(JsonElement root, RequestOutcome outcome)
    {
        if (!root.TryGetProperty("usage", out var usage) || usage.ValueKind != JsonValueKind.Object) return;
        if (usage.TryGetProperty("prompt_tokens", out var p) && p.TryGetInt32(out var pt)) outcome.UsagePromptTokens = pt;
        if (usage.TryGetProperty("completion_tokens", out var c) && c.TryGetInt32(out var ct)) outcome.UsageCompletionTokens = ct;
    }

    private static (string Kind, string Message) ReadError(string body, int status)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                var type = error.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                var message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                return (type ?? $"http_{status}", message ?? body);
            }
        }
        catch (JsonException)
        {
            // Not OpenAI-shaped: fall through to the status.
        }
        return ($"http_{status}", body.Length > 200 ? body[..200] : body);
    }

    private static string KindOf(HttpRequestException e)
    {
        if (e.InnerException is SocketException s)
        {
            return s.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "connection_refused",
                SocketError.ConnectionReset => "connection_reset",
                SocketError.TimedOut => "connect_timeout",
                _ => "connection_error",
            };
        }
        return e.HttpRequestError switch
        {
            HttpRequestError.ResponseEnded => "response_ended",
            HttpRequestError.ConnectionError => "connection_error",
            HttpRequestError.NameResolutionError => "name_resolution",
            HttpRequestError.InvalidResponse => "invalid_response",
            HttpRequestError.HttpProtocolError => "protocol_error",
            _ => "http_request_error",
        };
    }

    private static void Fail(RequestOutcome outcome, long start, string kind, string message)
    {
        outcome.Ok = false;
        outcome.ErrorKind = kind;
        outcome.ErrorMessage = message;
        outcome.E2eUs = ElapsedUs(start);
    }

    private static long ElapsedUs(long start) => ToUs(Stopwatch.GetTimestamp() - start);

    private static long ToUs(long ticks) => ticks * 1_000_000 / Stopwatch.Frequency;

    public void Dispose() => _http.Dispose();
}
