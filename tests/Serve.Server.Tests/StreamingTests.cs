using System.Net;
using System.Text;
using System.Text.Json;

namespace Serve.Server.Tests;

/// <summary>SSE framing as OpenAI sends it, client disconnects freeing the engine, and errors after the stream started.</summary>
[Collection(ServerCollection.Name)]
public sealed class StreamingTests(ServerFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task ChatStream_FramesChunksLikeOpenAi()
    {
        using var client = fixture.Client();
        using var response = await client.PostJsonAsync("v1/chat/completions",
            Http.Chat("a", "Tell me about the market.", 10, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = Http.SseData(await response.Content.ReadAsStringAsync());

        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        Assert.All(chunks, c => Assert.Equal("a", c.GetProperty("model").GetString()));

        var first = chunks[0].GetProperty("choices")[0];
        Assert.Equal("assistant", first.GetProperty("delta").GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("finish_reason").ValueKind);

        var usageChunk = chunks[^1];
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        Assert.Equal(10, usageChunk.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var last = chunks[^2].GetProperty("choices")[0];
        Assert.Equal("length", last.GetProperty("finish_reason").GetString());
        Assert.All(chunks[..^1], c => Assert.False(c.TryGetProperty("usage", out _)));

        var text = string.Concat(chunks.SelectMany(c => c.GetProperty("choices").EnumerateArray())
            .Select(ch => ch.GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : ""));
        using var whole = await client.PostJsonAsync("v1/chat/completions", Http.Chat("a", "Tell me about the market.", 10));
        Assert.Equal((await whole.JsonAsync()).GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), text);
    }

    [Fact]
    public async Task ChatStream_WithoutIncludeUsage_HasNoUsageChunk()
    {
        using var client = fixture.Client();
        using var response = await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", 4, ",\"stream\":true"));
        var events = Http.SseData(await response.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", events[^1]);
        Assert.DoesNotContain(events[..^1], e => e.Contains("\"usage\"", StringComparison.Ordinal));
        Assert.Equal("length", JsonDocument.Parse(events[^2]).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task ChatStream_InvalidRequest_IsAPlain4xxNotAStream()
    {
        using var client = fixture.Client();
        using var response = await client.PostJsonAsync("v1/chat/completions", Http.Chat("base", "hi", -1, ",\"stream\":true"));
        await response.ErrorAsync(400);
    }

    [Fact]
    public async Task CompletionStream_FramesTextCompletionChunksWithEchoAndUsage()
    {
        using var client = fixture.Client();
        using var response = await client.PostJsonAsync("v1/completions",
            "{\"model\":\"b\",\"prompt\":\"Once upon a time\",\"max_tokens\":6,\"temperature\":0,\"echo\":true,\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        var events = Http.SseData(await response.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        Assert.Equal("Once upon a time", chunks[0].GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal(6, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var streamed = string.Concat(chunks.SelectMany(c => c.GetProperty("choices").EnumerateArray()).Select(c => c.GetProperty("text").GetString()));

        using var whole = await client.PostJsonAsync("v1/completions", "{\"model\":\"b\",\"prompt\":\"Once upon a time\",\"max_tokens\":6,\"temperature\":0,\"echo\":true}");
        var json = await whole.JsonAsync();
        Assert.Equal("text_completion", json.GetProperty("object").GetString());
        Assert.Equal(streamed, json.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.StartsWith("cmpl-", json.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Completion_Logprobs_HaveTheLegacyShape()
    {
        using var client = fixture.Client();
        using var response = await client.PostJsonAsync("v1/completions", "{\"model\":\"base\",\"prompt\":\"The letter\",\"max_tokens\":5,\"temperature\":0,\"logprobs\":2}");
        var logprobs = (await response.JsonAsync()).GetProperty("choices")[0].GetProperty("logprobs");
        Assert.Equal(5, logprobs.GetProperty("tokens").GetArrayLength());
        Assert.Equal(5, logprobs.GetProperty("token_logprobs").GetArrayLength());
        Assert.Equal(5, logprobs.GetProperty("text_offset").GetArrayLength());
        Assert.All(logprobs.GetProperty("top_logprobs").EnumerateArray(), t => Assert.InRange(t.EnumerateObject().Count(), 1, 2));
    }

    [Fact]
    public async Task ManyStreamsAbortedMidway_LeaveNoSequenceInUse()
    {
        var engine = fixture.Server.Engine;
        using var client = fixture.Client();
        const int streams = 200;
        var started = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long headers = 0, firstBytes = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, streams), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
        {
            var adapter = i % 5 == 0 ? "base" : ServerFixture.AdapterNames[i % 4];
            using var cts = new CancellationTokenSource();
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
            {
                Content = new StringContent(Http.Chat(adapter, $"Story number {i}", 400, ",\"stream\":true,\"ignore_eos\":true"), Encoding.UTF8, "application/json"),
            };
            var t0 = clock.ElapsedMilliseconds;
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            Interlocked.Add(ref headers, clock.ElapsedMilliseconds - t0);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var stream = await response.Content.ReadAsStreamAsync(cts.Token);
            var buffer = new byte[256];
            // Read a few events, then walk away mid-generation.
            for (var read = 0; read < 600;) read += await stream.ReadAsync(buffer, cts.Token);
            Interlocked.Add(ref firstBytes, clock.ElapsedMilliseconds - t0);
            Interlocked.Increment(ref started);
            await cts.CancelAsync();
        });
        Assert.Equal(streams, started);
        output.WriteLine($"{streams} streams in {clock.ElapsedMilliseconds} ms; mean to headers {headers / streams} ms, to 600 bytes {firstBytes / streams} ms");

        // Every sequence is freed within a few scheduler steps of its client leaving.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((engine.Status.Running > 0 || engine.Status.Waiting > 0) && DateTime.UtcNow < deadline) await Task.Delay(50);
        var status = engine.Status;
        Assert.Equal(0, status.Running);
        Assert.Equal(0, status.Waiting);
        Assert.All(engine.Adapters.List(), a => Assert.Equal(0, a.ActiveSequences));
        // Idle prefix-cache slots may keep prompt KV; no slot keeps anything near a 400-token generation.
        var options = engine.Options;
        Assert.True(status.KvTokens <= options.PrefixCacheSlots * options.ContextPerSequence, $"KV holds {status.KvTokens} tokens");

        // The metrics agree: no request running or waiting for any adapter.
        using var metrics = fixture.Server.Client();
        var text = await metrics.GetStringAsync("metrics");
        foreach (var line in text.Split('\n').Where(l => l.StartsWith("serve_engine_requests_running", StringComparison.Ordinal) || l.StartsWith("serve_engine_queue_depth", StringComparison.Ordinal)))
            Assert.EndsWith(" 0", line);
    }

    [Fact]
    public async Task NonStreamingClientThatLeaves_CancelsItsGeneration()
    {
        // Its own server with long sequences: with every adapter in one decode a step is quick, and generations of
        // the shared server's 512-token context can end before a loaded machine has started them all.
        await using var server = await TestServer.StartAsync(fixture.ModelPath, fixture.AdaptersDirectory, new Dictionary<string, string?>
        {
            ["Serve:ApiKeys:0"] = ServerFixture.ApiKey,
            ["Serve:Engine:MaxSequences"] = "4",
            ["Serve:Engine:ContextPerSequence"] = "4096",
            // One client runs all four sequences here (by default it holds half of them: FairnessTests).
            ["Serve:Engine:ClientRunningShare"] = "1",
        });
        var engine = server.Engine;
        using var client = server.Client(ServerFixture.ApiKey);
        // Warm up first: the adapter's first use loads it and builds a graph, a stall no cancellation can cut short.
        (await client.PostJsonAsync("v1/chat/completions", Http.Chat("c", "Long story", 4))).EnsureSuccessStatusCode();
        // Three long generations on other adapters run alongside, started first: they show the client below left
        // early. Scheduled fairly, one token a step each, the later request cannot finish its 4000 tokens before
        // them; if its sequence is gone while they still run, the cancellation ended it. (A fixed timeout let a fast
        // machine finish first.)
        var background = new[] { "a", "b", "d" }.Select(async model =>
        {
            using var response = await client.PostJsonAsync("v1/chat/completions", Http.Chat(model, "Long story", 4000, ",\"ignore_eos\":true"));
            response.EnsureSuccessStatusCode();
        }).ToArray();
        var limit = DateTime.UtcNow.AddSeconds(20);
        while (engine.Status.Running < 3 && DateTime.UtcNow < limit) await Task.Delay(1);
        Assert.Equal(3, engine.Status.Running);

        using var cts = new CancellationTokenSource();
        var request = client.PostJsonAsync("v1/chat/completions", Http.Chat("c", "Long story", 4000, ",\"ignore_eos\":true"), cts.Token);
        while (engine.Status.Running < 4 && !request.IsCompleted && DateTime.UtcNow < limit) await Task.Delay(1);
        Assert.Equal(4, engine.Status.Running);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        var freedEarly = false;
        while (!background.All(b => b.IsCompleted) && DateTime.UtcNow < limit)
        {
            if (engine.Status.Running <= 3 && !background.Any(b => b.IsCompleted)) freedEarly = true;
            if (freedEarly) break;
            await Task.Delay(1);
        }
        Assert.True(freedEarly, "the cancelled request's sequence ran until the others finished");
        await Task.WhenAll(background);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (engine.Status.Running > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(0, engine.Status.Running);
        Assert.All(engine.Adapters.List(), a => Assert.Equal(0, a.ActiveSequences));
    }
}
